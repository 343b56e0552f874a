//! Kit output schemas and Brick metadata.

use semarize_api::operations;
use semarize_api::types::{BrickMetadata, KitSchema};

use super::{CallOptions, call_options, send_from_response};
use crate::call::execute;
use crate::client::Client;
use crate::error::Error;
use crate::response::Response;

/// Kit output schemas.
#[derive(Clone, Copy, Debug)]
pub struct Kits<'c> {
    client: &'c Client,
}

/// Which Kit a schema request names.
#[derive(Clone, Debug)]
enum KitRef {
    Id(String),
    Code(String),
    Version(String),
}

impl<'c> Kits<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Kits { client }
    }

    /// The schema of the Kit with this id (`GET /v1/kits/{kitId}/schema`).
    pub fn schema(&self, kit_id: impl Into<String>) -> GetKitSchema<'c> {
        self.request(KitRef::Id(kit_id.into()))
    }

    /// The schema of the published Kit with this code (`GET /v1/kits/schema?kit_code=`).
    pub fn schema_by_code(&self, kit_code: impl Into<String>) -> GetKitSchema<'c> {
        self.request(KitRef::Code(kit_code.into()))
    }

    /// The schema of this Kit version (`GET /v1/kits/schema?kit_version_id=`).
    pub fn schema_by_version(&self, kit_version_id: impl Into<String>) -> GetKitSchema<'c> {
        self.request(KitRef::Version(kit_version_id.into()))
    }

    fn request(&self, kit: KitRef) -> GetKitSchema<'c> {
        GetKitSchema {
            client: self.client,
            kit,
            options: CallOptions::default(),
        }
    }
}

/// A Kit schema request.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct GetKitSchema<'c> {
    client: &'c Client,
    kit: KitRef,
    options: CallOptions,
}

/// Brick metadata.
#[derive(Clone, Copy, Debug)]
pub struct Bricks<'c> {
    client: &'c Client,
}

impl<'c> Bricks<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Bricks { client }
    }

    /// Metadata of these Bricks (1 to 100 ids; unknown ids are left out of the answer).
    pub fn get<I, S>(&self, ids: I) -> GetBricks<'c>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GetBricks {
            client: self.client,
            ids: ids.into_iter().map(Into::into).collect(),
            options: CallOptions::default(),
        }
    }
}

/// A Brick metadata request.
#[derive(Debug)]
#[must_use = "a request does nothing until sent"]
pub struct GetBricks<'c> {
    client: &'c Client,
    ids: Vec<String>,
    options: CallOptions,
}

call_options!(GetKitSchema, GetBricks);
send_from_response!(GetKitSchema => KitSchema, GetBricks => Vec<BrickMetadata>);

impl GetKitSchema<'_> {
    /// Sends the request and returns the value with its response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<KitSchema>, Error> {
        let client = self.client;
        let raw = &client.inner.raw;
        let (checked, operation, args): (_, _, &[&str]) = match &self.kit {
            KitRef::Id(kit_id) => (
                crate::limits::check_uuid("Kit id", kit_id),
                &operations::GET_KIT_SCHEMA,
                &[kit_id.as_str()],
            ),
            KitRef::Code(code) => (
                crate::limits::check_kit_code(code),
                &operations::GET_KIT_SCHEMA_BY_QUERY,
                &[],
            ),
            KitRef::Version(version) => (
                crate::limits::check_uuid("Kit version id", version),
                &operations::GET_KIT_SCHEMA_BY_QUERY,
                &[],
            ),
        };
        if let Err(message) = checked {
            return Err(Error::invalid_request(message).with_call(operation, args));
        }
        let reply = match &self.kit {
            KitRef::Id(kit_id) => {
                let call = self
                    .options
                    .call(client, &operations::GET_KIT_SCHEMA, Some(kit_id));
                execute(&client.inner, call, |rid| {
                    raw.get_kit_schema().kit_id(kit_id).x_request_id(rid).send()
                })
                .await?
            }
            KitRef::Code(value) | KitRef::Version(value) => {
                let by_version = matches!(self.kit, KitRef::Version(_));
                let call = self
                    .options
                    .call(client, &operations::GET_KIT_SCHEMA_BY_QUERY, None);
                execute(&client.inner, call, |rid| {
                    let request = raw.get_kit_schema_by_query().x_request_id(rid);
                    let request = if by_version {
                        request.kit_version_id(value)
                    } else {
                        request.kit_code(value)
                    };
                    request.send()
                })
                .await?
            }
        };
        Ok(reply.into_response())
    }
}

impl GetBricks<'_> {
    /// Sends the request and returns the value with its response (status, headers,
    /// request id, attempts).
    pub async fn send_with_response(self) -> Result<Response<Vec<BrickMetadata>>, Error> {
        let client = self.client;
        let invalid =
            |message: &str| Error::invalid_request(message).with_call(&operations::GET_BRICKS, &[]);
        if self.ids.is_empty() {
            return Err(invalid("at least one brick id is required"));
        }
        let ids_limits = operations::GET_BRICKS
            .parameter("ids")
            .map(|p| p.limits)
            .unwrap_or_default();
        if let Some(max) = ids_limits.max_items
            && self.ids.len() as u64 > max
        {
            return Err(invalid(&format!("at most {max} brick ids per request")));
        }
        if self.ids.iter().any(|id| id.is_empty() || id.contains(',')) {
            return Err(invalid(
                "brick ids must be non-empty and must not contain commas",
            ));
        }
        let ids = self.ids.join(",");
        let call = self.options.call(client, &operations::GET_BRICKS, None);
        let raw = &client.inner.raw;
        let reply = execute(&client.inner, call, |rid| {
            raw.get_bricks().ids(&ids).x_request_id(rid).send()
        })
        .await?;
        Ok(reply.into_response())
    }
}
