//! Where results go: bodies to files (atomically published) or to a spool for
//! printing, headers and bodies to standard output, records to the JSON-lines
//! report.

mod file;
mod report;
mod spool;
mod stdout;

pub use file::{Dir, DirCache, PART_SUFFIX, PartFile, part_path, partial_len};
pub use report::ReportWriter;
pub use spool::Spool;
pub use stdout::{Printer, format_bytes, header};
