//! Every setting tollgate reads, in one place: each part typed and validated once, at start,
//! by the composition root that needs it (the Lambda builders in `tollgate-lambda`, and
//! `tollgate dev`). A function reads only the parts it uses, so a missing or wrong variable
//! stops exactly the functions that need it, with one error naming it.
//!
//! Where settings come from is an [`Env`]: the process environment on Lambda; on the local
//! stack, the environment over the stack's own defaults (generated secrets kept in the data
//! directory, its public address for every link). Both read through the same parts.

mod env;
mod parts;

pub use env::{Env, SettingError};
pub use parts::*;
