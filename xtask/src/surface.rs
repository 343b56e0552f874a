//! The public surface of the generated client: the generated code with bodies, private
//! items and doc comments stripped, so that a spec change shows up as a short, reviewable
//! diff of types, fields and method signatures.

use syn::visit_mut::VisitMut;

const HEADER: &str = "// The public surface of semarize-api as generated from openapi/semarize.yaml.\n\
// Checked by `cargo xtask spec check`; after a deliberate spec change, review the diff\n\
// and run `cargo xtask spec bless`. Do not edit by hand.\n\n";

/// The surface of `generated` (the formatted source progenitor produced).
pub fn extract(generated: &str) -> Result<String, String> {
    let mut file: syn::File =
        syn::parse_str(generated).map_err(|e| format!("generated code does not parse: {e}"))?;
    Strip.visit_file_mut(&mut file);
    Ok(format!("{HEADER}{}", prettyplease::unparse(&file)))
}

/// A unified diff from `committed` to `actual`, or `None` when they are the same.
pub fn diff(committed: &str, actual: &str) -> Option<String> {
    if committed == actual {
        return None;
    }
    let diff = similar::TextDiff::from_lines(committed, actual);
    Some(
        diff.unified_diff()
            .context_radius(3)
            .header(
                "openapi/generated-surface.txt (committed)",
                "generated from the spec",
            )
            .to_string(),
    )
}

struct Strip;

fn is_public(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

fn keep_attr(attr: &syn::Attribute) -> bool {
    // Docs are noise for a surface review; derives and serde attributes are the contract.
    !attr.path().is_ident("doc")
}

impl VisitMut for Strip {
    fn visit_file_mut(&mut self, file: &mut syn::File) {
        file.attrs.retain(keep_attr);
        file.items.retain(keep_item);
        for item in &mut file.items {
            self.visit_item_mut(item);
        }
    }

    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        module.attrs.retain(keep_attr);
        if let Some((_, items)) = &mut module.content {
            items.retain(keep_item);
            for item in items {
                self.visit_item_mut(item);
            }
        }
    }

    fn visit_item_struct_mut(&mut self, item: &mut syn::ItemStruct) {
        item.attrs.retain(keep_attr);
        if let syn::Fields::Named(fields) = &mut item.fields {
            fields.named = std::mem::take(&mut fields.named)
                .into_iter()
                .filter(|f| is_public(&f.vis))
                .map(|mut f| {
                    f.attrs.retain(keep_attr);
                    f
                })
                .collect();
        }
    }

    fn visit_item_enum_mut(&mut self, item: &mut syn::ItemEnum) {
        item.attrs.retain(keep_attr);
        for variant in &mut item.variants {
            variant.attrs.retain(keep_attr);
        }
    }

    fn visit_item_impl_mut(&mut self, item: &mut syn::ItemImpl) {
        item.attrs.retain(keep_attr);
        let is_trait_impl = item.trait_.is_some();
        item.items.retain(|member| match member {
            syn::ImplItem::Fn(f) => is_trait_impl || is_public(&f.vis),
            syn::ImplItem::Const(c) => is_trait_impl || is_public(&c.vis),
            syn::ImplItem::Type(_) => true,
            _ => false,
        });
        for member in &mut item.items {
            if let syn::ImplItem::Fn(f) = member {
                f.attrs.retain(keep_attr);
                f.block = syn::parse_quote!({});
            }
        }
    }

    fn visit_item_fn_mut(&mut self, item: &mut syn::ItemFn) {
        item.attrs.retain(keep_attr);
        *item.block = syn::parse_quote!({});
    }
}

fn keep_item(item: &syn::Item) -> bool {
    match item {
        syn::Item::Struct(i) => is_public(&i.vis),
        syn::Item::Enum(i) => is_public(&i.vis),
        syn::Item::Fn(i) => is_public(&i.vis),
        syn::Item::Mod(i) => is_public(&i.vis),
        syn::Item::Type(i) => is_public(&i.vis),
        syn::Item::Trait(i) => is_public(&i.vis),
        syn::Item::Use(i) => is_public(&i.vis),
        syn::Item::Impl(_) => true,
        _ => false,
    }
}
