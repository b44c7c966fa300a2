//! The `#[weft_guest::skill]` attribute. Use it through the `weft-guest` crate,
//! which re-exports it and provides the runtime support it expands to.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, Expr, FnArg, GenericArgument, ItemFn, LitStr, Meta, PathArguments, ReturnType, Type};

/// Turns `fn(Input) -> Result<Output, E>` into the skill exported by this
/// crate. See `weft_guest::skill` for the documentation.
#[proc_macro_attribute]
pub fn skill(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut args = Args::default();
    let parser = syn::meta::parser(|meta| args.parse(meta));
    if let Err(err) = syn::parse::Parser::parse(parser, attr) {
        return with_item(err, item);
    }
    let func = match syn::parse::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(err) => return with_item(err, item),
    };
    match expand(&args, &func) {
        Ok(tokens) => tokens.into(),
        Err(err) => with_item(err, func.into_token_stream().into()),
    }
}

/// Reports `err` and keeps the user's item, so that one mistake does not
/// cascade into "cannot find function" errors elsewhere.
fn with_item(err: Error, item: TokenStream) -> TokenStream {
    let mut out: TokenStream2 = err.to_compile_error();
    out.extend(TokenStream2::from(item));
    out.into()
}

#[derive(Default)]
struct Args {
    name: Option<LitStr>,
    version: Option<LitStr>,
    description: Option<LitStr>,
}

impl Args {
    fn parse(&mut self, meta: syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
        let slot = if meta.path.is_ident("name") {
            &mut self.name
        } else if meta.path.is_ident("version") {
            &mut self.version
        } else if meta.path.is_ident("description") {
            &mut self.description
        } else {
            let key = meta.path.to_token_stream().to_string().replace(' ', "");
            return Err(meta
                .error(format_args!("unknown key `{key}` in #[skill]: expected `name`, `version` or `description`")));
        };
        if slot.is_some() {
            return Err(meta.error("this key is given twice"));
        }
        let value: LitStr = meta.value()?.parse()?;
        if value.value().trim().is_empty() {
            return Err(Error::new(value.span(), "must not be empty"));
        }
        *slot = Some(value);
        Ok(())
    }
}

fn expand(args: &Args, func: &ItemFn) -> syn::Result<TokenStream2> {
    let sig = &func.sig;
    let ident = &sig.ident;

    if let Some(token) = &sig.asyncness {
        return Err(Error::new(token.span(), "a skill function cannot be `async`: the host calls `run` synchronously"));
    }
    if let Some(token) = &sig.unsafety {
        return Err(Error::new(token.span(), "a skill function cannot be `unsafe`"));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(Error::new_spanned(
            &sig.generics,
            "a skill function cannot be generic: its input and output types must be concrete",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        return Err(Error::new(variadic.span(), "a skill function cannot be variadic"));
    }
    if let Some(receiver) = sig.receiver() {
        return Err(Error::new_spanned(
            receiver,
            "a skill function cannot take `self`: write a free function `fn run(input: Input) -> Result<Output, SkillError>`",
        ));
    }
    let input_ty: &Type = match sig.inputs.len() {
        1 => match &sig.inputs[0] {
            FnArg::Typed(pat) => &pat.ty,
            FnArg::Receiver(r) => unreachable!("receiver handled above: {:?}", r.span()),
        },
        0 => {
            return Err(Error::new(
                sig.paren_token.span.join(),
                "a skill function takes exactly one argument, its input: `fn run(input: Input)`",
            ));
        }
        _ => {
            let extra: Vec<&FnArg> = sig.inputs.iter().skip(1).collect();
            return Err(Error::new_spanned(
                quote!(#(#extra),*),
                "a skill function takes exactly one argument, its input: gather the fields into one struct",
            ));
        }
    };
    if let Type::ImplTrait(_) = input_ty {
        return Err(Error::new_spanned(
            input_ty,
            "the input type of a skill function must be concrete, not `impl Trait`",
        ));
    }
    let ret_ty: &Type = match &sig.output {
        ReturnType::Type(_, ty) => ty,
        ReturnType::Default => {
            return Err(Error::new_spanned(
                sig,
                "a skill function must return `Result<Output, E>` where `E: Into<weft_guest::SkillError>`",
            ));
        }
    };

    let name = match &args.name {
        Some(lit) => lit.to_token_stream(),
        None => quote!(::core::env!("CARGO_PKG_NAME")),
    };
    let version = match &args.version {
        Some(lit) => lit.to_token_stream(),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let description = match &args.description {
        Some(lit) => quote!(::weft_guest::__private::description(&[#lit])),
        None => {
            let docs = doc_exprs(func);
            quote!(::weft_guest::__private::description(&[#(#docs),*]))
        }
    };

    // Each trait requirement is checked by an expression spanned at the type
    // that must satisfy it, so that a missing derive or a wrong return type is
    // reported there rather than at the attribute.
    let input_span = input_ty.span();
    let ret_span = ret_ty.span();
    let input_schema = quote_spanned!(input_span=>
        ::weft_guest::__private::input_schema::<#input_ty>());
    let parse_input = quote_spanned!(input_span=>
        let __weft_input: #input_ty = ::weft_guest::__private::parse_input::<#input_ty>(&__weft_input)?;);
    let call = quote_spanned!(ret_span=>
        let __weft_output = ::weft_guest::__private::into_result::<#ret_ty>(#ident(__weft_input))?;);
    let (output_schema, serialize_output) = match result_ok_type(ret_ty) {
        Some(output_ty) => {
            let span = output_ty.span();
            (
                quote_spanned!(span=> ::weft_guest::__private::output_schema::<#output_ty>()),
                quote_spanned!(span=> ::weft_guest::__private::serialize_output::<#output_ty>(&__weft_output)),
            )
        }
        // Not spelled `Result<T, ...>` (an alias, or a mistake): go through
        // the `SkillReturn` trait, which reports a wrong type once, at the
        // return type.
        None => (
            quote_spanned!(ret_span=> ::weft_guest::__private::output_schema_of_return::<#ret_ty>()),
            quote_spanned!(ret_span=> ::weft_guest::__private::serialize_output(&__weft_output)),
        ),
    };

    Ok(quote! {
        #func

        const _: () = {
            #[doc(hidden)]
            struct __WeftSkill;

            impl ::weft_guest::bindings::Guest for __WeftSkill {
                fn describe() -> ::weft_guest::bindings::SkillInfo {
                    ::weft_guest::__private::skill_info(
                        #name,
                        #version,
                        #description,
                        #input_schema,
                        #output_schema,
                    )
                }

                fn run(
                    __weft_input: ::std::string::String,
                ) -> ::core::result::Result<::std::string::String, ::weft_guest::bindings::SkillError> {
                    let __weft_run = || -> ::core::result::Result<::std::string::String, ::weft_guest::SkillError> {
                        #parse_input
                        #call
                        #serialize_output
                    };
                    __weft_run().map_err(::core::convert::Into::into)
                }
            }

            ::weft_guest::export!(__WeftSkill);
        };
    })
}

/// The expressions of the function's `#[doc = ...]` attributes (one per `///`
/// line), in order.
fn doc_exprs(func: &ItemFn) -> Vec<&Expr> {
    func.attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) => Some(&nv.value),
            _ => None,
        })
        .collect()
}

/// `T` in a return type spelled `Result<T, ...>` (any path ending in `Result`,
/// so `std::result::Result` and aliases such as `anyhow::Result<T>` too).
fn result_ok_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok_type(src: &str) -> Option<String> {
        let ty: Type = syn::parse_str(src).unwrap();
        result_ok_type(&ty).map(|t| t.to_token_stream().to_string())
    }

    #[test]
    fn finds_the_ok_type_of_results() {
        assert_eq!(ok_type("Result<Count, SkillError>").as_deref(), Some("Count"));
        assert_eq!(ok_type("std::result::Result<Vec<u8>, E>").as_deref(), Some("Vec < u8 >"));
        assert_eq!(ok_type("weft_guest::Result<Count>").as_deref(), Some("Count"));
        assert_eq!(ok_type("Count"), None);
        assert_eq!(ok_type("Option<Count>"), None);
        assert_eq!(ok_type("(u8, u8)"), None);
    }

    fn expand_str(attr: &str, item: &str) -> Result<String, String> {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| args.parse(meta));
        syn::parse::Parser::parse_str(parser, attr).map_err(|e| e.to_string())?;
        let func: ItemFn = syn::parse_str(item).map_err(|e| e.to_string())?;
        expand(&args, &func).map(|t| t.to_string()).map_err(|e| e.to_string())
    }

    #[test]
    fn expands_a_well_formed_skill() {
        let out = expand_str(
            r#"name = "word-count", version = "0.1.0""#,
            "/// Counts words.\nfn run(input: Text) -> Result<Count, SkillError> { Ok(Default::default()) }",
        )
        .unwrap();
        assert!(out.contains("impl :: weft_guest :: bindings :: Guest for __WeftSkill"), "{out}");
        assert!(out.contains(":: weft_guest :: export ! (__WeftSkill)"), "{out}");
        assert!(out.contains("\"word-count\""), "{out}");
        assert!(out.contains("\" Counts words.\""), "{out}");
        assert!(out.contains("input_schema :: < Text >"), "{out}");
        assert!(out.contains("output_schema :: < Count >"), "{out}");
    }

    #[test]
    fn defaults_come_from_cargo() {
        let out = expand_str("", "fn run(input: Text) -> Result<Count, E> { Ok(Default::default()) }").unwrap();
        assert!(out.contains("env ! (\"CARGO_PKG_NAME\")"), "{out}");
        assert!(out.contains("env ! (\"CARGO_PKG_VERSION\")"), "{out}");
    }

    #[test]
    fn description_key_overrides_docs() {
        let out = expand_str(
            r#"description = "Given.""#,
            "/// Ignored.\nfn run(input: Text) -> Result<Count, E> { Ok(Default::default()) }",
        )
        .unwrap();
        assert!(out.contains("\"Given.\""), "{out}");
        assert!(!out.contains("\" Ignored.\" ]"), "{out}");
    }

    #[test]
    fn rejects_malformed_skills() {
        let cases = [
            ("", "fn run() -> Result<u8, E> { Ok(Default::default()) }", "exactly one argument"),
            ("", "fn run(a: u8, b: u8) -> Result<u8, E> { Ok(Default::default()) }", "exactly one argument"),
            ("", "fn run(&self) -> Result<u8, E> { Ok(Default::default()) }", "cannot take `self`"),
            ("", "fn run(a: u8) { }", "must return"),
            ("", "async fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "cannot be `async`"),
            ("", "unsafe fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "cannot be `unsafe`"),
            ("", "fn run<T>(a: T) -> Result<u8, E> { Ok(Default::default()) }", "cannot be generic"),
            ("", "fn run(a: impl Sized) -> Result<u8, E> { Ok(Default::default()) }", "must be concrete"),
            ("nmae = \"x\"", "fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "unknown key `nmae`"),
            ("name = \"x\", name = \"y\"", "fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "twice"),
            ("name = \"\"", "fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "must not be empty"),
            ("name = 3", "fn run(a: u8) -> Result<u8, E> { Ok(Default::default()) }", "expected string literal"),
        ];
        for (attr, item, expected) in cases {
            let err = expand_str(attr, item).unwrap_err();
            assert!(err.contains(expected), "{attr} {item}: {err}");
        }
    }
}
