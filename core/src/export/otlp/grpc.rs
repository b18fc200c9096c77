//! OTLP/gRPC transport (`otlp.protocol=grpc`): the same encoded request
//! messages as OTLP/HTTP, sent as unary calls to the OpenTelemetry
//! `TraceService/Export` and `MetricsService/Export` methods with tonic.
//!
//! The exporter thread owns a current-thread tokio runtime and blocks on
//! each call, so the collector and the application see the same blocking
//! `Exporter` as with HTTP. The message bytes are passed through unchanged
//! (a pass-through codec): Osprey's own encoder builds them, tonic frames,
//! compresses (gzip when configured) and sends them. The answer's gRPC
//! status is mapped to the HTTP status the retry logic already understands,
//! as the OTLP specification pairs them: `UNAVAILABLE`, `CANCELLED`,
//! `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS` → 503 (retried),
//! `DEADLINE_EXCEEDED` → a timeout (retried), `RESOURCE_EXHAUSTED` → 429
//! when the server sent retry information, else 413, `UNAUTHENTICATED` →
//! 401, `PERMISSION_DENIED` → 403, `INVALID_ARGUMENT` → 400,
//! `UNIMPLEMENTED` → 404, anything else → 500.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use tonic::Code;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use super::Signal;
use super::config::{Compression, OtlpConfig};
use crate::export::ExportError;
use crate::export::http::{HttpResponse, SendError};

/// gRPC method of the traces service.
const TRACES_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
/// gRPC method of the metrics service.
const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// A gRPC channel to one collector, driven by the exporter thread.
pub(super) struct GrpcClient {
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    metadata: MetadataMap,
    gzip: bool,
}

impl GrpcClient {
    /// Prepares the channel (it connects on first use) to
    /// `config.grpc_endpoint`, trusting `config.ca_file` when given, else the
    /// webpki roots.
    pub(super) fn new(config: &OtlpConfig) -> Result<Self, ExportError> {
        let url = config.grpc_endpoint.trim_end_matches('/').to_owned();
        let bad = |e: &dyn std::fmt::Display| {
            ExportError::Transport(format!(
                "OTLP/gRPC endpoint {}: {e}",
                crate::export::http::printable(&url)
            ))
        };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| bad(&e))?
            .connect_timeout(config.timeout)
            .timeout(config.timeout);
        if url.to_ascii_lowercase().starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            tls = match &config.ca_file {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| {
                        ExportError::Transport(format!("cannot read {}: {e}", path.display()))
                    })?;
                    tls.ca_certificate(Certificate::from_pem(pem))
                }
                None => tls.with_webpki_roots(),
            };
            endpoint = endpoint.tls_config(tls).map_err(|e| bad(&e))?;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ExportError::Io)?;
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(Self {
            runtime,
            channel,
            metadata: metadata(&config.headers)?,
            gzip: config.compression == Compression::Gzip,
        })
    }

    /// One unary call with `message` (an encoded export request), waiting at
    /// most `timeout`; the answer as an HTTP-style response.
    pub(super) fn send(
        &self,
        signal: Signal,
        message: &[u8],
        timeout: Duration,
    ) -> Result<HttpResponse, SendError> {
        let path = match signal {
            Signal::Traces => TRACES_PATH,
            Signal::Metrics => METRICS_PATH,
        };
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc = grpc.accept_compressed(CompressionEncoding::Gzip);
        let mut request = tonic::Request::new(Bytes::copy_from_slice(message));
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(timeout);
        let call = async {
            grpc.ready()
                .await
                .map_err(|e| SendError::Connect(format!("gRPC channel: {e}")))?;
            Ok::<_, SendError>(
                grpc.unary(
                    request,
                    http::uri::PathAndQuery::from_static(path),
                    PassThrough,
                )
                .await,
            )
        };
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, call).await })
            .map_err(|_| SendError::Timeout)??;
        match answer {
            Ok(response) => Ok(HttpResponse {
                status: 200,
                retry_after: None,
                osprey_server: response
                    .metadata()
                    .get(crate::model::SERVER_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
                body: response.into_inner().to_vec(),
            }),
            Err(status) => from_status(&status),
        }
    }
}

/// The configured headers as gRPC metadata (names lower-cased; a name or
/// value gRPC cannot carry is a configuration error, its value not shown).
fn metadata(headers: &[(String, String)]) -> Result<MetadataMap, ExportError> {
    let mut map = MetadataMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if super::is_reserved_header(&lower) || lower == "te" {
            continue;
        }
        let key = MetadataKey::from_bytes(lower.as_bytes()).map_err(|_| {
            ExportError::Transport(format!("header `{name}` cannot be sent as gRPC metadata"))
        })?;
        let value = MetadataValue::try_from(value.as_str()).map_err(|_| {
            ExportError::Transport(format!(
                "the value of header `{name}` cannot be sent as gRPC metadata"
            ))
        })?;
        map.insert(key, value);
    }
    Ok(map)
}

/// A failed call as the HTTP answer the retry logic understands.
fn from_status(status: &tonic::Status) -> Result<HttpResponse, SendError> {
    let http = match status.code() {
        Code::DeadlineExceeded => return Err(SendError::Timeout),
        Code::Unavailable | Code::Cancelled | Code::Aborted | Code::OutOfRange | Code::DataLoss => {
            503
        }
        Code::ResourceExhausted if has_retry_info(status) => 429,
        Code::ResourceExhausted => 413,
        Code::Unauthenticated => 401,
        Code::PermissionDenied => 403,
        Code::InvalidArgument => 400,
        Code::Unimplemented => 404,
        _ => 500,
    };
    Ok(HttpResponse {
        status: http,
        retry_after: None,
        osprey_server: None,
        body: format!("gRPC {:?}: {}", status.code(), status.message()).into_bytes(),
    })
}

/// Whether the status details carry a `google.rpc.RetryInfo` (the server
/// says a retry can succeed). Detected by its type URL, without decoding.
fn has_retry_info(status: &tonic::Status) -> bool {
    const RETRY_INFO: &[u8] = b"type.googleapis.com/google.rpc.RetryInfo";
    status
        .details()
        .windows(RETRY_INFO.len())
        .any(|w| w == RETRY_INFO)
}

/// Sends and receives message bytes as they are.
#[derive(Clone, Copy, Debug, Default)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = PassThrough;
    type Decoder = PassThrough;

    fn encoder(&mut self) -> Self::Encoder {
        PassThrough
    }

    fn decoder(&mut self) -> Self::Decoder {
        PassThrough
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_http_answers_the_retry_logic_knows() {
        let http = |code| from_status(&tonic::Status::new(code, "m")).map(|r| r.status);
        assert_eq!(http(Code::Unavailable).unwrap(), 503);
        assert_eq!(http(Code::Aborted).unwrap(), 503);
        assert!(matches!(
            http(Code::DeadlineExceeded),
            Err(SendError::Timeout)
        ));
        assert_eq!(http(Code::ResourceExhausted).unwrap(), 413, "final");
        let retry_info = tonic::Status::with_details(
            Code::ResourceExhausted,
            "slow down",
            Bytes::from_static(b"\n(type.googleapis.com/google.rpc.RetryInfo"),
        );
        assert_eq!(from_status(&retry_info).unwrap().status, 429, "retried");
        assert_eq!(http(Code::Unauthenticated).unwrap(), 401);
        assert_eq!(http(Code::InvalidArgument).unwrap(), 400);
        assert_eq!(http(Code::Internal).unwrap(), 500);
    }

    #[test]
    fn headers_become_metadata_and_bad_ones_are_refused_without_their_value() {
        let map = metadata(&[
            ("Authorization".into(), "Bearer k".into()),
            ("content-type".into(), "x".into()),
        ])
        .unwrap();
        assert_eq!(map.get("authorization").unwrap(), "Bearer k");
        assert!(map.get("content-type").is_none(), "set by gRPC itself");
        let err = metadata(&[("x-key".into(), "secret\nvalue".into())]).unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
