//! The little protobuf the double reads: kubectl sends built-in types such as
//! `SelfSubjectAccessReview` as `application/vnd.kubernetes.protobuf` (the `k8s\0` magic, then
//! a `runtime.Unknown` wrapping the object). Only that object is decoded, into the JSON the rest
//! of the double speaks; answers go back as JSON, which clients accept too.

use serde_json::{Map, Value, json};

use super::objects::ApiError;

/// The protobuf media type of the Kubernetes API.
pub(crate) const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// One field of a message: a varint, or length-delimited bytes (fixed-width ones are skipped).
enum Field<'a> {
    Varint,
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of one message, in order: (field number, value).
fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let key = varint(buf, &mut at)?;
        let field = match key & 7 {
            0 => {
                varint(buf, &mut at)?;
                Field::Varint
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).ok()?;
                let end = at.checked_add(len).filter(|end| *end <= buf.len())?;
                let bytes = &buf[at..end];
                at = end;
                Field::Bytes(bytes)
            }
            1 => {
                at = at.checked_add(8)?;
                Field::Varint
            }
            5 => {
                at = at.checked_add(4)?;
                Field::Varint
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    (at == buf.len()).then_some(out)
}

fn bytes_of<'a>(fields: &[(u64, Field<'a>)], number: u64) -> Option<&'a [u8]> {
    fields.iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if *n == number => Some(*b),
        _ => None,
    })
}

/// String fields of a message as a JSON object, by field number.
fn strings(buf: &[u8], names: &[(u64, &str)]) -> Option<Value> {
    let fields = fields(buf)?;
    let mut object = Map::new();
    for (number, name) in names {
        if let Some(bytes) = bytes_of(&fields, *number) {
            let text = std::str::from_utf8(bytes).ok()?;
            object.insert((*name).to_string(), json!(text));
        }
    }
    Some(Value::Object(object))
}

/// A protobuf `SelfSubjectAccessReview` body as its JSON form (`spec` only: the rest is
/// ignored by the review anyway).
pub(crate) fn self_subject_access_review(body: &[u8]) -> Result<Value, ApiError> {
    let bad = || ApiError::bad_request("couldn't decode the protobuf SelfSubjectAccessReview");
    let unknown = body.strip_prefix(MAGIC).ok_or_else(bad)?;
    let wrapper = fields(unknown).ok_or_else(bad)?;
    let raw = bytes_of(&wrapper, 2).ok_or_else(bad)?;
    let review = fields(raw).ok_or_else(bad)?;
    let spec = fields(bytes_of(&review, 2).ok_or_else(bad)?).ok_or_else(bad)?;
    let mut out = Map::new();
    if let Some(attrs) = bytes_of(&spec, 1) {
        let names = [
            (1, "namespace"),
            (2, "verb"),
            (3, "group"),
            (4, "version"),
            (5, "resource"),
            (6, "subresource"),
            (7, "name"),
        ];
        out.insert(
            "resourceAttributes".into(),
            strings(attrs, &names).ok_or_else(bad)?,
        );
    }
    if let Some(attrs) = bytes_of(&spec, 2) {
        let names = [(1, "path"), (2, "verb")];
        out.insert(
            "nonResourceAttributes".into(),
            strings(attrs, &names).ok_or_else(bad)?,
        );
    }
    Ok(json!({ "spec": out }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).expect("short")];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_review_as_kubectl_sends_it_decodes() {
        let attrs = [
            field(1, b"payments-prod"),
            field(2, b"patch"),
            field(3, b"apps"),
            field(5, b"deployments"),
        ]
        .concat();
        let spec = field(1, &attrs);
        let review = [field(1, b""), field(2, &spec)].concat();
        let type_meta = [
            field(1, b"authorization.k8s.io/v1"),
            field(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let unknown = [field(1, &type_meta), field(2, &review)].concat();
        let body = [MAGIC, &unknown].concat();
        let value = self_subject_access_review(&body).expect("decoded");
        assert_eq!(
            value["spec"]["resourceAttributes"],
            json!({ "namespace": "payments-prod", "verb": "patch", "group": "apps", "resource": "deployments" })
        );
        for bad in [&b"{}"[..], b"k8s\0\x12\x05ab", b"k8s\0\xff"] {
            assert_eq!(
                self_subject_access_review(bad).map_err(|e| e.code()),
                Err(400)
            );
        }
    }
}
