//! Structural checks of an OpenAPI 3.0 document, run before progenitor sees it.
//!
//! progenitor (through serde) ignores keys it does not know and panics on some values it
//! does not expect, so a misspelt `requried` silently changes the generated types and a
//! `type: strng` ends in a panic that names no schema. These checks read the document as
//! plain data and report each problem like a compiler: `LINE:COL: at #/pointer: what was
//! expected`. `semarize-api`'s build script and `cargo xtask spec check` both call
//! [`check_structure`], so both report the same problems in the same words.

/// Keywords of an OpenAPI 3.0 Schema Object (`x-` extensions are always allowed).
const SCHEMA_KEYWORDS: &[&str] = &[
    "title",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
    "$ref",
];
const TYPES: &[&str] = &["string", "number", "integer", "boolean", "array", "object"];
const OPERATION_KEYWORDS: &[&str] = &[
    "tags",
    "summary",
    "description",
    "externalDocs",
    "operationId",
    "parameters",
    "requestBody",
    "responses",
    "callbacks",
    "deprecated",
    "security",
    "servers",
];
const PATH_ITEM_KEYWORDS: &[&str] = &[
    "$ref",
    "summary",
    "description",
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
    "servers",
    "parameters",
];
const PARAMETER_KEYWORDS: &[&str] = &[
    "name",
    "in",
    "description",
    "required",
    "deprecated",
    "allowEmptyValue",
    "style",
    "explode",
    "allowReserved",
    "schema",
    "example",
    "examples",
    "content",
    "$ref",
];
const RESPONSE_KEYWORDS: &[&str] = &["description", "headers", "content", "links", "$ref"];
const REQUEST_BODY_KEYWORDS: &[&str] = &["description", "content", "required", "$ref"];
const MEDIA_TYPE_KEYWORDS: &[&str] = &["schema", "example", "examples", "encoding"];
const HEADER_KEYWORDS: &[&str] = &[
    "description",
    "required",
    "deprecated",
    "allowEmptyValue",
    "style",
    "explode",
    "allowReserved",
    "schema",
    "example",
    "examples",
    "content",
    "$ref",
];
const INFO_KEYWORDS: &[&str] = &[
    "title",
    "description",
    "termsOfService",
    "contact",
    "license",
    "version",
];
const SERVER_KEYWORDS: &[&str] = &["url", "description", "variables"];
/// Where a parameter may be.
const PARAMETER_PLACES: &[&str] = &["query", "header", "path", "cookie"];

/// Schema keywords whose value must be a number.
const NUMBER_KEYWORDS: &[&str] = &["multipleOf", "maximum", "minimum"];
/// Schema keywords whose value must be a non-negative integer.
const COUNT_KEYWORDS: &[&str] = &[
    "maxLength",
    "minLength",
    "maxItems",
    "minItems",
    "maxProperties",
    "minProperties",
];
/// Schema keywords whose value must be a boolean (OpenAPI 3.0: `exclusiveMinimum` too).
const BOOLEAN_KEYWORDS: &[&str] = &[
    "exclusiveMaximum",
    "exclusiveMinimum",
    "uniqueItems",
    "nullable",
    "readOnly",
    "writeOnly",
    "deprecated",
];
/// Schema keywords whose value must be a string.
const STRING_KEYWORDS: &[&str] = &["title", "description", "format", "pattern"];

const TOP_LEVEL_KEYWORDS: &[&str] = &[
    "openapi",
    "info",
    "servers",
    "paths",
    "components",
    "security",
    "tags",
    "externalDocs",
];

/// Every structural problem of the spec `text`, as `LINE:COL: at #/pointer: message`
/// (append it to the file name). Empty when the text is not YAML: the parser reports that.
pub fn check_structure(text: &str) -> Vec<String> {
    let Ok(doc) = serde_norway::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    structure(&doc, &mut found);
    let positions = yaml_positions(text);
    found
        .into_iter()
        .map(|(pointer, message)| {
            let (line, column) = locate(&positions, &pointer);
            format!("{line}:{column}: at #{pointer}: {message}")
        })
        .collect()
}

type Found = Vec<(String, String)>;

fn structure(doc: &serde_json::Value, found: &mut Found) {
    unknown_keys(doc, "", TOP_LEVEL_KEYWORDS, "the top level", found);
    unknown_keys(
        &doc["info"],
        "/info",
        INFO_KEYWORDS,
        "the info object",
        found,
    );
    for (i, server) in doc["servers"].as_array().into_iter().flatten().enumerate() {
        unknown_keys(
            server,
            &format!("/servers/{i}"),
            SERVER_KEYWORDS,
            "a server",
            found,
        );
    }
    let mut operation_ids: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let at = format!("/paths/{}", escape(path));
        path_item(doc, item, &at, Some(path), &mut operation_ids, found);
    }
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten()
    {
        check_schema(
            schema,
            &format!("/components/schemas/{}", escape(name)),
            found,
        );
    }
    for (name, parameter) in doc
        .pointer("/components/parameters")
        .and_then(|s| s.as_object())
        .into_iter()
        .flatten()
    {
        check_parameter(
            parameter,
            &format!("/components/parameters/{}", escape(name)),
            found,
        );
    }
    for (kind, items) in doc["components"].as_object().into_iter().flatten() {
        let (keywords, what) = match kind.as_str() {
            "responses" => (RESPONSE_KEYWORDS, "a response"),
            "headers" => (HEADER_KEYWORDS, "a header"),
            "requestBodies" => (REQUEST_BODY_KEYWORDS, "a request body"),
            _ => continue,
        };
        for (name, item) in items.as_object().into_iter().flatten() {
            let at = format!("/components/{kind}/{}", escape(name));
            unknown_keys(item, &at, keywords, what, found);
            media_schemas(item, &at, found);
        }
    }
    for (i, (id, at)) in operation_ids.iter().enumerate() {
        if operation_ids[..i].iter().any(|(other, _)| other == id) {
            found.push((
                format!("{at}/operationId"),
                format!("duplicate operationId `{id}`"),
            ));
        }
    }
    references(doc, doc, "", found);
}

/// A path item; `template` is its path (`/v1/runs/{runId}`), or `None` for a callback's,
/// whose key is a runtime expression rather than a template.
fn path_item(
    doc: &serde_json::Value,
    item: &serde_json::Value,
    at: &str,
    template: Option<&str>,
    ids: &mut Vec<(String, String)>,
    found: &mut Found,
) {
    unknown_keys(item, at, PATH_ITEM_KEYWORDS, "a path item", found);
    for (i, parameter) in item["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        check_parameter(parameter, &format!("{at}/parameters/{i}"), found);
    }
    for method in crate::document::METHODS {
        let Some(operation) = item.get(method) else {
            continue;
        };
        let at = format!("{at}/{method}");
        unknown_keys(operation, &at, OPERATION_KEYWORDS, "an operation", found);
        if let Some(id) = operation["operationId"].as_str() {
            ids.push((id.to_owned(), at.clone()));
        }
        for (i, parameter) in operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_parameter(parameter, &format!("{at}/parameters/{i}"), found);
        }
        if let Some(template) = template {
            path_parameters(doc, item, operation, template, &at, found);
        }
        if let Some(body) = operation.get("requestBody") {
            let at = format!("{at}/requestBody");
            unknown_keys(body, &at, REQUEST_BODY_KEYWORDS, "a request body", found);
            media_schemas(body, &at, found);
        }
        match operation["responses"].as_object() {
            None => found.push((at.clone(), "an operation needs `responses`".to_owned())),
            Some(responses) => {
                for (status, response) in responses {
                    let at = format!("{at}/responses/{}", escape(status));
                    if !is_status_key(status) {
                        found.push((at.clone(), format!(
                            "`{status}` is not a response key: a status code (200), a range (5XX) or `default`"
                        )));
                    }
                    unknown_keys(response, &at, RESPONSE_KEYWORDS, "a response", found);
                    media_schemas(response, &at, found);
                }
            }
        }
        for (name, callback) in operation["callbacks"].as_object().into_iter().flatten() {
            for (expression, item) in callback.as_object().into_iter().flatten() {
                let at = format!("{at}/callbacks/{}/{}", escape(name), escape(expression));
                path_item(doc, item, &at, None, &mut Vec::new(), found);
            }
        }
    }
}

fn is_status_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    key == "default"
        || (bytes.len() == 3
            && (b'1'..=b'5').contains(&bytes[0])
            && ((bytes[1].is_ascii_digit() && bytes[2].is_ascii_digit()) || &key[1..] == "XX"))
}

/// Every `{name}` of the path has an `in: path` parameter (at the path or the operation),
/// and every `in: path` parameter is in the path, and required.
fn path_parameters(
    doc: &serde_json::Value,
    item: &serde_json::Value,
    operation: &serde_json::Value,
    template: &str,
    at: &str,
    found: &mut Found,
) {
    let in_template: Vec<&str> = template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let mut declared = Vec::new();
    for (list, place) in [
        (
            &item["parameters"],
            at.rsplit_once('/').map_or(at, |(p, _)| p),
        ),
        (&operation["parameters"], at),
    ] {
        for (i, parameter) in list.as_array().into_iter().flatten().enumerate() {
            let parameter = crate::document::resolve(doc, parameter);
            if parameter["in"] != "path" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap_or_default();
            let here = format!("{place}/parameters/{i}");
            if !in_template.contains(&name) {
                found.push((
                    format!("{here}/name"),
                    format!("`{name}` is an `in: path` parameter, but the path `{template}` has no `{{{name}}}`"),
                ));
            }
            if parameter["required"] != serde_json::Value::Bool(true) {
                found.push((
                    here.clone(),
                    format!("path parameter `{name}` must have `required: true`"),
                ));
            }
            declared.push(name.to_owned());
        }
    }
    for name in in_template {
        if !declared.iter().any(|d| d == name) {
            found.push((
                at.to_owned(),
                format!("the path `{template}` has `{{{name}}}`, but no `in: path` parameter declares it"),
            ));
        }
    }
}

fn check_parameter(parameter: &serde_json::Value, at: &str, found: &mut Found) {
    unknown_keys(parameter, at, PARAMETER_KEYWORDS, "a parameter", found);
    if parameter.get("$ref").is_none() {
        match parameter.get("in").and_then(|p| p.as_str()) {
            Some(place) if PARAMETER_PLACES.contains(&place) => {}
            Some(place) => found.push((
                format!("{at}/in"),
                format!(
                    "`in: {place}` is not a parameter location; OpenAPI 3.0 allows {} (a body is a `requestBody`)",
                    PARAMETER_PLACES.join(", ")
                ),
            )),
            None => found.push((at.to_owned(), "a parameter needs `in`".to_owned())),
        }
        if parameter.get("name").and_then(|n| n.as_str()).is_none() {
            found.push((at.to_owned(), "a parameter needs a `name`".to_owned()));
        }
    }
    if let Some(schema) = parameter.get("schema") {
        check_schema(schema, &format!("{at}/schema"), found);
    }
    media_schemas(parameter, at, found);
}

/// The schemas of `content.*.schema` and `headers.*.schema` under a response, request
/// body, header or parameter.
fn media_schemas(holder: &serde_json::Value, at: &str, found: &mut Found) {
    for (media, object) in holder["content"].as_object().into_iter().flatten() {
        let here = format!("{at}/content/{}", escape(media));
        unknown_keys(object, &here, MEDIA_TYPE_KEYWORDS, "a media type", found);
        if let Some(schema) = object.get("schema") {
            check_schema(
                schema,
                &format!("{at}/content/{}/schema", escape(media)),
                found,
            );
        }
    }
    for (name, header) in holder["headers"].as_object().into_iter().flatten() {
        let here = format!("{at}/headers/{}", escape(name));
        unknown_keys(header, &here, HEADER_KEYWORDS, "a header", found);
        if let Some(schema) = header.get("schema") {
            check_schema(
                schema,
                &format!("{at}/headers/{}/schema", escape(name)),
                found,
            );
        }
    }
    // A header object's schema (a parameter's is checked by check_parameter).
    if let Some(schema) = holder.get("schema")
        && holder.get("in").is_none()
    {
        check_schema(schema, &format!("{at}/schema"), found);
    }
}

fn check_schema(schema: &serde_json::Value, at: &str, found: &mut Found) {
    let Some(map) = schema.as_object() else {
        found.push((at.to_owned(), "a schema must be an object".to_owned()));
        return;
    };
    unknown_keys(schema, at, SCHEMA_KEYWORDS, "a schema", found);
    let siblings: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "$ref" && !k.starts_with("x-"))
        .collect();
    if map.contains_key("$ref") && !siblings.is_empty() {
        found.push((
            at.to_owned(),
            format!(
                "`$ref` has sibling keywords ({}), which OpenAPI 3.0 ignores: put the reference \
                 in an `allOf` (or `anyOf`) beside them",
                siblings.join(", ")
            ),
        ));
    }
    keyword_types(map, at, found);
    match map.get("type") {
        Some(serde_json::Value::String(kind)) if TYPES.contains(&kind.as_str()) => {}
        Some(other) => found.push((
            format!("{at}/type"),
            format!(
                "`type` is {other}; OpenAPI 3.0 allows one of {}",
                TYPES.join(", ")
            ),
        )),
        None => {}
    }
    if map.get("type").and_then(|t| t.as_str()) == Some("array") && !map.contains_key("items") {
        found.push((at.to_owned(), "`type: array` needs `items`".to_owned()));
    }
    if map.get("nullable") == Some(&serde_json::Value::Bool(true)) && !map.contains_key("type") {
        found.push((
            at.to_owned(),
            "`nullable` needs a `type` in the same schema (OpenAPI 3.0.3)".to_owned(),
        ));
    }
    let properties = map.get("properties").and_then(|p| p.as_object());
    match map.get("required") {
        None => {}
        Some(serde_json::Value::Array(names)) => {
            for (i, name) in names.iter().enumerate() {
                match (name.as_str(), properties) {
                    (Some(name), Some(properties)) if !properties.contains_key(name) => {
                        found.push((
                            format!("{at}/required/{i}"),
                            format!("`{name}` is required but not among the properties"),
                        ));
                    }
                    (None, _) => found.push((
                        format!("{at}/required/{i}"),
                        "a required name must be a string".to_owned(),
                    )),
                    _ => {}
                }
            }
        }
        Some(_) => found.push((
            format!("{at}/required"),
            "`required` must be a list of property names".to_owned(),
        )),
    }
    for (name, property) in properties.into_iter().flatten() {
        check_schema(
            property,
            &format!("{at}/properties/{}", escape(name)),
            found,
        );
    }
    if let Some(items) = map.get("items") {
        check_schema(items, &format!("{at}/items"), found);
    }
    if let Some(extra) = map.get("additionalProperties").filter(|a| a.is_object()) {
        check_schema(extra, &format!("{at}/additionalProperties"), found);
    }
    if let Some(not) = map.get("not") {
        check_schema(not, &format!("{at}/not"), found);
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        for (i, part) in map
            .get(keyword)
            .and_then(|p| p.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            check_schema(part, &format!("{at}/{keyword}/{i}"), found);
        }
    }
}

/// Schema keywords whose values are of the wrong JSON type (openapiv3 tolerates some of
/// them and drops others without a word).
fn keyword_types(map: &serde_json::Map<String, serde_json::Value>, at: &str, found: &mut Found) {
    let mut wrong = |key: &str, expected: &str| {
        found.push((
            format!("{at}/{}", escape(key)),
            format!("`{key}` must be {expected}, not {}", map[key]),
        ));
    };
    for (key, value) in map {
        let key = key.as_str();
        if NUMBER_KEYWORDS.contains(&key) && !value.is_number() {
            wrong(key, "a number");
        } else if COUNT_KEYWORDS.contains(&key) && !value.is_u64() {
            wrong(key, "a non-negative integer");
        } else if BOOLEAN_KEYWORDS.contains(&key) && !value.is_boolean() {
            wrong(key, "true or false");
        } else if STRING_KEYWORDS.contains(&key) && !value.is_string() {
            wrong(key, "a string");
        } else if key == "enum" && value.as_array().is_none_or(|values| values.is_empty()) {
            wrong(key, "a non-empty list of values");
        } else if key == "properties" && !value.is_object() {
            wrong(key, "a map of property names to schemas");
        } else if key == "additionalProperties" && !(value.is_object() || value.is_boolean()) {
            wrong(key, "a schema or true or false");
        } else if matches!(key, "allOf" | "anyOf" | "oneOf") && !value.is_array() {
            wrong(key, "a list of schemas");
        }
    }
}

/// Keys of `object` that are neither `allowed` nor `x-` extensions.
fn unknown_keys(
    object: &serde_json::Value,
    at: &str,
    allowed: &[&str],
    what: &str,
    found: &mut Found,
) {
    for key in object.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key.starts_with("x-") || allowed.contains(&key.as_str()) {
            continue;
        }
        let hint = allowed
            .iter()
            .filter(|known| edit_distance(known, key) <= 2)
            .min_by_key(|known| edit_distance(known, key))
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        found.push((
            format!("{at}/{}", escape(key)),
            format!("`{key}` is not a keyword of {what} in OpenAPI 3.0{hint}"),
        ));
    }
}

/// Every local `$ref` must point at something in the document.
fn references(doc: &serde_json::Value, value: &serde_json::Value, at: &str, found: &mut Found) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{at}/{}", escape(key));
                if key == "$ref" {
                    if let Some(target) = child.as_str() {
                        let resolved = target
                            .strip_prefix('#')
                            .and_then(|pointer| doc.pointer(pointer));
                        if resolved.is_none() {
                            found.push((
                                here,
                                format!("`$ref: {target}` points at nothing in this document"),
                            ));
                        }
                    }
                } else if key != "example" && key != "examples" {
                    references(doc, child, &here, found);
                }
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                references(doc, item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// A key as a JSON Pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Where each key and list item of a block-style YAML document starts, by JSON Pointer
/// (1-based line and column). Flow collections (`[a, b]`, `{...}`) are not entered:
/// a pointer into one is located at the line of its key.
pub(crate) fn yaml_positions(text: &str) -> std::collections::HashMap<String, (usize, usize)> {
    let mut positions = std::collections::HashMap::new();
    // (indent, pointer, is a list item)
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    let mut items: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut block_scalar_above: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = line.trim();
        if content.is_empty() {
            continue;
        }
        if let Some(limit) = block_scalar_above {
            if indent > limit {
                continue;
            }
            block_scalar_above = None;
        }
        if content.starts_with('#') {
            continue;
        }
        let mut column = indent;
        let mut rest = &line[indent..];
        // `- ` starts a list item; `- key: value` also starts a key inside it.
        while rest == "-" || rest.starts_with("- ") {
            while stack
                .last()
                .is_some_and(|(i, _, item)| *i > column || (*i == column && *item))
            {
                stack.pop();
            }
            let parent = stack.last().map(|(_, p, _)| p.clone()).unwrap_or_default();
            let counter = items.entry(parent.clone()).or_insert(0);
            let pointer = format!("{parent}/{counter}");
            *counter += 1;
            positions.insert(pointer.clone(), (n + 1, column + 1));
            stack.push((column, pointer, true));
            let after = rest[1..].trim_start_matches(' ');
            column += rest.len() - after.len();
            rest = after;
        }
        let Some((key, value)) = split_key(rest) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _, _)| *i >= column) {
            stack.pop();
        }
        let parent = stack.last().map(|(_, p, _)| p.clone()).unwrap_or_default();
        let pointer = format!("{parent}/{}", escape(&key));
        positions.insert(pointer.clone(), (n + 1, column + 1));
        stack.push((column, pointer, false));
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            block_scalar_above = Some(indent.max(column));
        }
    }
    positions
}

/// `key: value` (the key unquoted), or None when the text is not a mapping entry.
fn split_key(text: &str) -> Option<(String, &str)> {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote) {
            let end = inner.find(quote)?;
            let after = inner[end + 1..].strip_prefix(':')?;
            return Some((inner[..end].to_owned(), after));
        }
    }
    let end = text
        .find(": ")
        .or_else(|| text.strip_suffix(':').map(str::len))?;
    let key = &text[..end];
    if key.is_empty() || key.starts_with(['{', '[', '"', '\'']) {
        return None;
    }
    Some((key.to_owned(), text.get(end + 1..).unwrap_or_default()))
}

/// The position of `pointer`, or of its nearest located ancestor.
pub(crate) fn locate(
    positions: &std::collections::HashMap<String, (usize, usize)>,
    pointer: &str,
) -> (usize, usize) {
    let mut candidate = pointer;
    loop {
        if let Some(&at) = positions.get(candidate) {
            return at;
        }
        match candidate.rfind('/') {
            Some(cut) => candidate = &candidate[..cut],
            None => return (1, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_structure;
    use crate::committed_spec as committed;

    /// The committed spec with `from` replaced by `to` (which must occur once).
    fn mutated(from: &str, to: &str) -> String {
        let spec = committed();
        assert_eq!(spec.matches(from).count(), 1, "{from:?} must occur once");
        spec.replacen(from, to, 1)
    }

    /// The 1-based line of the first occurrence of `needle` in `text`.
    #[test]
    fn the_committed_spec_has_no_structural_problem() {
        assert_eq!(check_structure(&committed()), Vec::<String>::new());
    }

    #[test]
    fn typical_mistakes_are_reported_with_line_column_and_pointer() {
        let cases = [
            // A misspelt keyword, which progenitor would silently ignore.
            (
                "      required: [run_id, status]\n      properties:\n        run_id:\n          type: string\n          description: The run id.",
                "      requried: [run_id, status]\n      properties:\n        run_id:\n          type: string\n          description: The run id.",
                "requried: [run_id",
                "at #/components/schemas/Run/requried: `requried` is not a keyword of a schema in OpenAPI 3.0 (did you mean `required`?)",
            ),
            // An unknown type, on which progenitor panics without naming the schema.
            (
                "        credits_consumed:\n          type: integer",
                "        credits_consumed:\n          type: integr",
                "type: integr",
                "at #/components/schemas/RunUsage/properties/credits_consumed/type: `type` is \"integr\"; OpenAPI 3.0 allows one of string, number, integer, boolean, array, object",
            ),
            // A reference to a schema that does not exist.
            (
                "            - $ref: \"#/components/schemas/RunOutput\"",
                "            - $ref: \"#/components/schemas/RunOutputs\"",
                "$ref: \"#/components/schemas/RunOutputs\"",
                "at #/components/schemas/Run/properties/output/anyOf/0/$ref: `$ref: #/components/schemas/RunOutputs` points at nothing in this document",
            ),
            // A required property that is not declared.
            (
                "      required: [prompt, completion]",
                "      required: [prompt, completions]",
                "required: [prompt, completions]",
                "at #/components/schemas/TokenUsage/required/1: `completions` is required but not among the properties",
            ),
            // Two operations with one id.
            (
                "operationId: list_webhooks",
                "operationId: list_runs",
                "operationId: list_runs\n      tags: [webhooks]",
                "at #/paths/~1v1~1webhooks/get/operationId: duplicate operationId `list_runs`",
            ),
            // A response key that is no status.
            (
                "        \"204\":",
                "        \"20A\":",
                "\"20A\":",
                "at #/paths/~1v1~1webhooks~1{id}/delete/responses/20A: `20A` is not a response key: a status code (200), a range (5XX) or `default`",
            ),
            // A misspelt operation keyword.
            (
                "      operationId: get_run_usage",
                "      operationID: get_run_usage",
                "operationID: get_run_usage",
                "at #/paths/~1v1~1runs~1{runId}~1usage/get/operationID: `operationID` is not a keyword of an operation in OpenAPI 3.0 (did you mean `operationId`?)",
            ),
            // `$ref` beside `nullable`: openapiv3 drops the sibling, and the field silently
            // stops being nullable.
            (
                "        run_type:\n          $ref: \"#/components/schemas/RunType\"\n",
                "        run_type:\n          $ref: \"#/components/schemas/RunType\"\n          nullable: true\n",
                "        run_type:\n          $ref: \"#/components/schemas/RunType\"\n          nullable",
                "at #/components/schemas/Run/properties/run_type: `$ref` has sibling keywords (nullable), which OpenAPI 3.0 ignores: put the reference in an `allOf` (or `anyOf`) beside them",
            ),
            // `nullable` without a `type`: OpenAPI 3.0.3 gives it no meaning there.
            (
                "        error_message:\n          type: string\n          nullable: true\n",
                "        error_message:\n          nullable: true\n",
                "        error_message:\n          nullable",
                "at #/components/schemas/Run/properties/error_message: `nullable` needs a `type` in the same schema (OpenAPI 3.0.3)",
            ),
            // A number written as a string.
            (
                "          format: double\n          minimum: 0\n",
                "          format: double\n          minimum: \"0\"\n",
                "minimum: \"0\"",
                "at #/components/schemas/BrickOutput/properties/confidence/minimum: `minimum` must be a number, not \"0\"",
            ),
            // An enumeration that is not a list.
            (
                "      enum: [api, sandbox]\n      default: api\n",
                "      enum: api\n      default: api\n",
                "enum: api",
                "at #/components/schemas/RequestedRunType/enum: `enum` must be a non-empty list of values, not \"api\"",
            ),
            // Properties written as a list, which openapiv3 skips without a word.
            (
                "      required: [prompt, completion]\n      properties:\n",
                "      required: [prompt, completion]\n      properties: []\n      x-was-properties:\n",
                "properties: []",
                "at #/components/schemas/TokenUsage/properties: `properties` must be a map of property names to schemas, not []",
            ),
            // A path parameter the path does not declare.
            (
                "  /v1/runs/{runId}/usage:",
                "  /v1/runs/{runId}/usage/{period}:",
                "    get:\n      operationId: get_run_usage",
                "at #/paths/~1v1~1runs~1{runId}~1usage~1{period}/get: the path `/v1/runs/{runId}/usage/{period}` has `{period}`, but no `in: path` parameter declares it",
            ),
            // A misspelt response keyword.
            (
                "          description: The endpoint, with its signing secret.",
                "          descripton: The endpoint, with its signing secret.",
                "descripton: The endpoint",
                "at #/paths/~1v1~1webhooks/post/responses/201/descripton: `descripton` is not a keyword of a response in OpenAPI 3.0 (did you mean `description`?)",
            ),
            // A parameter in a place OpenAPI 3.0 does not have.
            (
                "      name: runId\n      in: path\n",
                "      name: runId\n      in: body\n",
                "in: body",
                "at #/components/parameters/RunId/in: `in: body` is not a parameter location; OpenAPI 3.0 allows query, header, path, cookie (a body is a `requestBody`)",
            ),
            // A misspelt info keyword.
            (
                "  title: Semarize API\n",
                "  titel: Semarize API\n",
                "titel: Semarize API",
                "at #/info/titel: `titel` is not a keyword of the info object in OpenAPI 3.0 (did you mean `title`?)",
            ),
        ];
        assert!(cases.len() >= 15, "at least fifteen typical mistakes");
        for (from, to, located_at, message) in cases {
            let text = mutated(from, to);
            let problems = check_structure(&text);
            // The line and column of the first character of `located_at` that is not
            // blank: where the mistake's key is.
            let start = text.find(located_at).expect("needle present")
                + (located_at.len() - located_at.trim_start().len());
            let line = text[..start].matches('\n').count() + 1;
            let column = start - text[..start].rfind('\n').map_or(0, |i| i + 1) + 1;
            let expected = format!("{line}:{column}: {message}");
            assert!(
                problems.contains(&expected),
                "expected `{expected}`, got {problems:#?}"
            );
        }
    }
}
