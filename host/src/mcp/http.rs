//! weft's streamable HTTP client for MCP servers: rmcp's own (over
//! reqwest), with one correction.
//!
//! A server that restarted no longer knows the client's session. The
//! specification has it answer 404, which rmcp handles by opening a new
//! session; many servers (the TypeScript SDK's examples among them) answer
//! 400 with a JSON-RPC error that carries no `id`, which rmcp cannot match
//! to the request it answers, so the call waited forever. Here such an
//! answer to a request sent in a session is taken as the session expired
//! (rmcp then opens a new one and sends the request again, once), and one
//! outside a session is given the request's id, so the call fails instead
//! of hanging.

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::Sse;
use std::collections::HashMap;
use std::sync::Arc;

/// rmcp's reqwest client, with uncorrelated errors handled (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct Client(reqwest::Client);

type Post = Result<StreamableHttpPostResponse, StreamableHttpError<reqwest::Error>>;

/// What to make of the answer `got` to `message`, sent in a session or not.
fn corrected(message: &ClientJsonRpcMessage, in_session: bool, got: Post) -> Post {
    let ClientJsonRpcMessage::Request(request) = message else { return got };
    match got {
        Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(mut e), session))
            if e.id.as_ref() != Some(&request.id) =>
        {
            if in_session {
                return Err(StreamableHttpError::SessionExpired);
            }
            e.id = Some(request.id.clone());
            Ok(StreamableHttpPostResponse::Json(ServerJsonRpcMessage::Error(e), session))
        }
        other => other,
    }
}

impl StreamableHttpClient for Client {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Post {
        let in_session = session_id.is_some();
        let got = self.0.post_message(uri, message.clone(), session_id, auth_header, custom_headers).await;
        corrected(&message, in_session, got)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Post {
        let in_session = session_id.is_some();
        let got = self
            .0
            .post_message_with_max_sse_event_size(
                uri,
                message.clone(),
                session_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        corrected(&message, in_session, got)
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Post {
        let in_session = session_id.is_some();
        let got = self
            .0
            .post_message_with_response_limits(uri, message.clone(), session_id, auth_header, custom_headers, limits)
            .await;
        corrected(&message, in_session, got)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0.delete_session(uri, session_id, auth_header, custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0.get_stream(uri, session_id, last_event_id, auth_header, custom_headers).await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}
