//! placeholder replaced by the generated table
