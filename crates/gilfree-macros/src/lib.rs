//! The attributes of gilfree: `#[gilfree::task]` registers a plain function
//! as a task that another process can run by name; `#[gilfree::main]` puts
//! `multiprocessing::init()` first in `main`. Use them through `gilfree::`;
//! the expansions refer to `::gilfree`.

use proc_macro::TokenStream;
use quote::ToTokens;
use quote::{format_ident, quote};
use syn::{
    FnArg, GenericArgument, ItemFn, PathArguments, ReturnType, Type, parse_macro_input,
    spanned::Spanned,
};

/// Registers a plain `fn` as a task: a function another process can run by
/// its stable name (module path + function name).
///
/// The function stays as it was (call it directly as usual). Beside it the
/// attribute adds a hidden braced struct of the same name (types and
/// functions live in different namespaces) whose associated const `TASK` is a typed
/// `gilfree::multiprocessing::Task<(Args,), Result>` handle to start it in a
/// process, and an entry in the link-time task registry. Arguments and the
/// result must be serde types. It may not be generic, `async`, or take
/// `self`. Arguments must be owned (`String`, not `&str`): they are decoded
/// in the child into values the task owns, and a borrowed one is refused
/// with that fix named. Two tasks of the same name in one module (say, in
/// two function bodies) would share a registry name: give them different
/// names.
///
/// ```ignore
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// // start it: Process::new(add::TASK, (1, 2))
/// ```
#[proc_macro_attribute]
pub fn task(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::TokenStream::from(attr).span(),
            "#[task] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let f = parse_macro_input!(item as ItemFn);
    match expand(&f) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Puts `gilfree::multiprocessing::init();` first in `main`, so that it
/// cannot be forgotten.
///
/// Python's `if __name__ == "__main__":` guard: a child started by the spawn
/// or forkserver method re-executes the program, and `init()` is where it
/// turns into a worker instead of running `main` again. Without `init()`,
/// starting a process is refused (`multiprocessing::Error::NoInit`).
/// `main` may return a value (`Result`, `ExitCode`); it may not be `async`
/// (`init()` must run before a runtime starts threads: call it first in a
/// plain `main`, then build the runtime).
///
/// ```ignore
/// #[gilfree::task]
/// fn add(a: i32, b: i32) -> i32 { a + b }
///
/// #[gilfree::main]
/// fn main() {
///     let p = gilfree::multiprocessing::Process::new(add::TASK, (2, 3)).unwrap();
///     p.start().unwrap();
///     assert_eq!(p.result().unwrap(), 5);
/// }
/// ```
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            proc_macro2::TokenStream::from(attr).span(),
            "#[gilfree::main] takes no arguments",
        )
        .to_compile_error()
        .into();
    }
    let mut f = parse_macro_input!(item as ItemFn);
    if let Some(a) = &f.sig.asyncness {
        return syn::Error::new(
            a.span(),
            "#[gilfree::main] cannot be async: init() must run before a runtime starts \
             threads; write a plain `fn main` with #[gilfree::main] that builds the runtime",
        )
        .to_compile_error()
        .into();
    }
    let init: syn::Stmt = syn::parse_quote!(::gilfree::multiprocessing::init(););
    f.block.stmts.insert(0, init);
    quote!(#f).into()
}

fn expand(f: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let sig = &f.sig;
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "a #[task] fn cannot be generic: another process finds it by name",
        ));
    }
    if let Some(a) = &sig.asyncness {
        return Err(syn::Error::new(a.span(), "a #[task] fn cannot be async"));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(v.span(), "a #[task] fn cannot be variadic"));
    }
    let mut tys = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new(r.span(), "a #[task] fn cannot take self"));
            }
            FnArg::Typed(pt) => {
                if let Some(e) = borrowed(&pt.ty) {
                    return Err(e);
                }
                tys.push((*pt.ty).clone())
            }
        }
    }
    let names: Vec<_> = (0..tys.len())
        .map(|i| format_ident!("__arg{}", i))
        .collect();
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, t) => quote!(#t),
    };
    let vis = &f.vis;
    let ident = &sig.ident;
    let p = quote!(::gilfree::multiprocessing::__private);
    Ok(quote! {
        #f

        // The handle lives on a same-named *braced* struct: a braced struct
        // takes only the type namespace, so `add(..)` still calls the fn and
        // `add::TASK` names the handle, in a module or a function body alike.
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #ident {}

        #[allow(dead_code)]
        impl #ident {
            /// The typed handle of this task: start it with
            /// `gilfree::multiprocessing::Process::new(TASK, args)`.
            #vis const TASK: ::gilfree::multiprocessing::Task<(#(#tys,)*), #ret> =
                ::gilfree::multiprocessing::Task::__new(
                    ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                );
        }

        #[allow(clippy::unused_unit)]
        const _: () = {
            #[#p::linkme::distributed_slice(#p::TASKS)]
            #[linkme(crate = #p::linkme)]
            static __GILFREE_TASK_ENTRY: #p::TaskEntry = #p::TaskEntry {
                name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                run: __gilfree_run,
                run_batch: __gilfree_run_batch,
            };

            fn __gilfree_run(
                args: &[u8],
                out: &mut ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<(), #p::TaskFailure> {
                let (#(#names,)*): (#(#tys,)*) = #p::decode_args(__GILFREE_TASK_ENTRY.name, args)?;
                let r: #ret = #ident(#(#names),*);
                #p::encode_result(__GILFREE_TASK_ENTRY.name, &r, out)
            }

            fn __gilfree_run_batch(calls: &[&[u8]], out: &mut #p::BatchOut) {
                #p::run_batch(
                    __GILFREE_TASK_ENTRY.name,
                    calls,
                    out,
                    |(#(#names,)*): (#(#tys,)*)| -> #ret { #ident(#(#names),*) },
                )
            }
        };
    })
}

/// A task's arguments are decoded in another process into values the task
/// owns, so a borrowed argument type (a reference, or a type with a
/// lifetime) cannot work; serde's own error for it ("`Deserialize` is not
/// general enough") does not say why. The error, with the fix, or `None`.
fn borrowed(ty: &Type) -> Option<syn::Error> {
    match ty {
        Type::Reference(r) => {
            let owned = match &*r.elem {
                Type::Path(p) if p.path.is_ident("str") => "String".to_string(),
                Type::Path(p) if p.path.is_ident("Path") => "PathBuf".to_string(),
                Type::Slice(s) => format!("Vec<{}>", s.elem.to_token_stream()),
                other => other.to_token_stream().to_string(),
            };
            Some(syn::Error::new(
                r.span(),
                format!(
                    "a #[task] argument cannot be borrowed: it is decoded in the child into a \
                     value the task owns; take `{owned}` instead of `{}`",
                    r.to_token_stream()
                ),
            ))
        }
        Type::Path(p) => {
            if let Some(q) = &p.qself
                && let Some(e) = borrowed(&q.ty)
            {
                return Some(e);
            }
            p.path.segments.iter().find_map(|seg| match &seg.arguments {
                PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
                    GenericArgument::Type(t) => borrowed(t),
                    GenericArgument::Lifetime(l) if l.ident != "static" => Some(syn::Error::new(
                        l.span(),
                        format!(
                            "a #[task] argument cannot borrow (`{}` has the lifetime {}): it is \
                             decoded in the child into a value the task owns; use owned types \
                             (`String` instead of `&str`, `Vec<T>` instead of `&[T]`, no lifetimes)",
                            p.to_token_stream(),
                            l
                        ),
                    )),
                    _ => None,
                }),
                _ => None,
            })
        }
        Type::Tuple(t) => t.elems.iter().find_map(borrowed),
        Type::Array(a) => borrowed(&a.elem),
        Type::Slice(s) => borrowed(&s.elem),
        Type::Paren(p) => borrowed(&p.elem),
        Type::Group(g) => borrowed(&g.elem),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(src: &str) -> String {
        let f: ItemFn = syn::parse_str(src).unwrap();
        match expand(&f) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_borrowed_str_names_string() {
        let e = error_of("fn f(n: u32, s: &str) {}");
        assert!(e.contains("cannot be borrowed"), "{e}");
        assert!(e.contains("`String` instead of `& str`"), "{e}");
    }

    #[test]
    fn a_borrowed_slice_names_vec() {
        let e = error_of("fn f(v: &'static [u8]) {}");
        assert!(e.contains("`Vec<u8>`"), "{e}");
    }

    #[test]
    fn a_nested_borrow_or_lifetime_is_refused() {
        let e = error_of("fn f(v: Vec<(u8, &str)>) {}");
        assert!(e.contains("`String` instead of `& str`"), "{e}");
        let e = error_of("fn f(c: std::borrow::Cow<'_, str>) {}");
        assert!(e.contains("cannot borrow") && e.contains("'_"), "{e}");
        assert_eq!(error_of("fn f(c: std::borrow::Cow<'static, str>) {}"), "");
    }

    #[test]
    fn owned_arguments_expand() {
        assert_eq!(
            error_of("fn f(n: u32, s: String, v: Vec<(u8, String)>) {}"),
            ""
        );
    }
}
