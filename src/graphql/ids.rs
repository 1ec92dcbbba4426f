//! Relay global IDs: opaque, typed. `base64url("<Type>:<uuid>")`, so a
//! Creator ID handed where an Agency ID is expected is a clear error.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Creator,
    Agency,
    Invitation,
}

impl NodeKind {
    fn name(self) -> &'static str {
        match self {
            NodeKind::Creator => "Creator",
            NodeKind::Agency => "Agency",
            NodeKind::Invitation => "Invitation",
        }
    }
}

pub fn encode(kind: NodeKind, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{}", kind.name(), id.simple())))
}

/// Reads any global ID.
pub fn decode_any(id: &str) -> Result<(NodeKind, Uuid), String> {
    let invalid = || format!("{id:?} is not a valid ID");
    let bytes = URL_SAFE_NO_PAD.decode(id.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, raw) = text.split_once(':').ok_or_else(invalid)?;
    let kind = match kind {
        "Creator" => NodeKind::Creator,
        "Agency" => NodeKind::Agency,
        "Invitation" => NodeKind::Invitation,
        _ => return Err(invalid()),
    };
    let uuid = Uuid::try_parse(raw).map_err(|_| invalid())?;
    Ok((kind, uuid))
}

/// Reads a global ID that must name a `kind`.
pub fn decode(id: &str, kind: NodeKind) -> Result<Uuid, String> {
    match decode_any(id)? {
        (k, uuid) if k == kind => Ok(uuid),
        (other, _) => Err(format!(
            "expected {} ID, got {} ID",
            article(kind),
            article(other)
        )),
    }
}

fn article(kind: NodeKind) -> String {
    match kind {
        NodeKind::Agency | NodeKind::Invitation => format!("an {}", kind.name()),
        NodeKind::Creator => format!("a {}", kind.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_typed() {
        let uuid = Uuid::now_v7();
        let id = encode(NodeKind::Agency, uuid);
        assert_eq!(decode(&id, NodeKind::Agency), Ok(uuid));
        assert_eq!(
            decode(&id, NodeKind::Creator),
            Err("expected a Creator ID, got an Agency ID".to_owned())
        );
        assert!(decode_any("not base64!").is_err());
        assert!(decode_any(&URL_SAFE_NO_PAD.encode("Creator:xyz")).is_err());
        assert!(decode_any(&URL_SAFE_NO_PAD.encode("User:0")).is_err());
    }
}
