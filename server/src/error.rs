//! Errors as the API returns them: `{"error": {"status": "DIMENSION_MISMATCH", "message": ...}}`
//! with an HTTP code that fits. The status names are the C API's (`OMENDB_STATUS_` dropped),
//! plus a few of the server's own (UNAUTHORIZED, NOT_FOUND, PAYLOAD_TOO_LARGE, CONFLICT).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use omendb::Error;

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    pub code: StatusCode,
    pub status: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: StatusCode, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, status, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
    }

    /// The same error, its message prefixed with where it was found.
    pub fn with_context(mut self, context: impl std::fmt::Display) -> ApiError {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let (code, status) = match &e {
            Error::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "INVALID_ARGUMENT"),
            Error::DimensionMismatch { .. } => (StatusCode::BAD_REQUEST, "DIMENSION_MISMATCH"),
            Error::NonFiniteValue { .. } | Error::ValueTooLarge { .. } => (StatusCode::BAD_REQUEST, "NON_FINITE"),
            Error::ZeroVector { .. } => (StatusCode::BAD_REQUEST, "ZERO_VECTOR"),
            Error::InvalidKey(_) => (StatusCode::BAD_REQUEST, "INVALID_KEY"),
            Error::DuplicateKey(_) => (StatusCode::CONFLICT, "DUPLICATE_KEY"),
            Error::KeyNotFound(_) => (StatusCode::NOT_FOUND, "KEY_NOT_FOUND"),
            Error::FilterSyntax { .. } => (StatusCode::BAD_REQUEST, "FILTER_SYNTAX"),
            Error::Locked(_) => (StatusCode::CONFLICT, "LOCKED"),
            Error::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL"),
            Error::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "IO"),
            Error::Corrupt(_) => (StatusCode::INTERNAL_SERVER_ERROR, "CORRUPT"),
            Error::UnsupportedVersion { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "UNSUPPORTED_VERSION"),
        };
        ApiError::new(code, status, e.to_string())
    }
}

impl ApiError {
    /// Logs a failure of the server's own (an HTTP 5xx): a client's mistake is the client's
    /// to see, and is logged only with every request (level debug).
    pub fn log_server_fault(&self) {
        if self.code.is_server_error() {
            tracing::error!(status = self.status, message = %self.message, "request failed");
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log_server_fault();
        let body = serde_json::json!({"error": {"status": self.status, "message": self.message}});
        (self.code, Json(body)).into_response()
    }
}
