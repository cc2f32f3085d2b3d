pub mod bench;
pub mod echo;
pub mod net;
