//! The error of the mapping modules of CMPP, SMGP and CNGP, declared once by
//! [`map_error!`](crate::map_error).
//!
//! The three turn a SUBMIT or DELIVER into domain messages and back with the same steps
//! (this crate's numbers, content, parts and times, and a status report inside a DELIVER),
//! so what can go wrong is the same: the same variants with the same texts, and the same
//! conversions from this crate's errors. What differs is passed in: the name of the
//! content's format field (CMPP's Msg_Fmt, SMGP's and CNGP's MsgFormat) and the protocol's
//! own errors for a field that does not fit and for a malformed report. The status a
//! failure is answered with stays with each protocol, as its codes do. SGIP's error tells
//! SP numbers from handset numbers and has no status report in a DELIVER, so SGIP keeps its
//! own.

/// What a malformed user data header is, for [`map_error!`](crate::map_error).
pub use tern_encoding::UdhError;

/// Declares `pub enum MapError` in the calling module, with `From` conversions from
/// [`ContentError`](crate::content::ContentError),
/// [`SubmitError`](crate::message::SubmitError), [`TextError`](crate::fields::TextError)
/// and [`BadNumber`](crate::address::BadNumber).
///
/// `format` is the name of the content error's field that holds the format, `content` the
/// text of that error (which names the field as `{format}`), `encode` the protocol's
/// error for a field that does not fit (which a `TextError` converts into) and `report`
/// its error for a status report that does not parse. The caller depends on `thiserror`.
#[macro_export]
macro_rules! map_error {
    (
        format: $format:ident,
        content: $content:tt,
        encode: $encode:ty,
        report: $report:ty $(,)?
    ) => {
        /// Why a PDU could not become a domain value or the other way round.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum MapError {
            #[error("source {value:?}: {reason}")]
            Source { value: String, reason: &'static str },
            #[error("destination {value:?}: {reason}")]
            Destination { value: String, reason: &'static str },
            #[error("TP_udhi is set but the user data header is malformed: {0}")]
            Udh($crate::mapping::UdhError),
            #[error($content)]
            Content { $format: u8, reason: &'static str },
            #[error("content of {octets} octets, at most {max} fit")]
            TooLong { octets: usize, max: usize },
            #[error("message needs {needed} parts, at most {max} are allowed")]
            TooManyParts { needed: usize, max: u8 },
            #[error("{field}: {error}")]
            Time {
                field: &'static str,
                error: $crate::time::SmppTimeError,
            },
            #[error("a status report DELIVER is not a message")]
            IsReport,
            #[error(transparent)]
            Field(#[from] $encode),
            #[error("status report: {0}")]
            Report(#[from] $report),
        }

        impl From<$crate::content::ContentError> for MapError {
            fn from(error: $crate::content::ContentError) -> Self {
                use $crate::content::ContentError;
                match error {
                    ContentError::Undecodable { format, reason } => MapError::Content {
                        $format: format,
                        reason,
                    },
                    ContentError::TooLong { octets, max } => MapError::TooLong { octets, max },
                    ContentError::TooManyParts { needed, max } => {
                        MapError::TooManyParts { needed, max }
                    }
                    ContentError::Udh(error) => MapError::Udh(error),
                }
            }
        }

        impl From<$crate::message::SubmitError> for MapError {
            fn from(error: $crate::message::SubmitError) -> Self {
                match error {
                    $crate::message::SubmitError::Content(error) => error.into(),
                    $crate::message::SubmitError::Time { field, error } => {
                        MapError::Time { field, error }
                    }
                }
            }
        }

        impl From<$crate::fields::TextError> for MapError {
            fn from(error: $crate::fields::TextError) -> Self {
                MapError::Field(error.into())
            }
        }

        impl From<$crate::address::BadNumber> for MapError {
            fn from(
                $crate::address::BadNumber { end, value, reason }: $crate::address::BadNumber,
            ) -> Self {
                match end {
                    $crate::address::End::Source => MapError::Source { value, reason },
                    $crate::address::End::Destination => MapError::Destination { value, reason },
                }
            }
        }
    };
}
