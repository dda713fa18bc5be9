//! Member-facing use-cases answer with the one [`AppError`]; these names keep their
//! signatures readable.

use crate::{AppError, AppResult};

pub type MemberError = AppError;
pub type MemberResult<T> = AppResult<T>;
