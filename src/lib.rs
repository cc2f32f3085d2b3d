pub mod bench;
pub mod chat;
pub mod echo;
pub mod fetch;
pub mod net;
