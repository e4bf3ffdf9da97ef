//! A software Xen host in one process.
