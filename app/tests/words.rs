//! The catalogues: every locale has every message with the same variables, each parses, and
//! every id the app renders exists.

use std::collections::{BTreeMap, BTreeSet};

use fluent_syntax::ast::{
    CallArguments, Entry, Expression, InlineExpression, Pattern, PatternElement,
};
use latchkey_app::words::{Text, Words, CATALOGUES, CLI_CATALOGUES};

fn vars_pattern<'s>(p: &Pattern<&'s str>, out: &mut BTreeSet<&'s str>) {
    for element in &p.elements {
        if let PatternElement::Placeable { expression } = element {
            vars_expression(expression, out);
        }
    }
}

fn vars_expression<'s>(e: &Expression<&'s str>, out: &mut BTreeSet<&'s str>) {
    match e {
        Expression::Select { selector, variants } => {
            vars_inline(selector, out);
            for v in variants {
                vars_pattern(&v.value, out);
            }
        }
        Expression::Inline(i) => vars_inline(i, out),
    }
}

fn vars_arguments<'s>(a: &CallArguments<&'s str>, out: &mut BTreeSet<&'s str>) {
    for x in &a.positional {
        vars_inline(x, out);
    }
    for n in &a.named {
        vars_inline(&n.value, out);
    }
}

fn vars_inline<'s>(i: &InlineExpression<&'s str>, out: &mut BTreeSet<&'s str>) {
    match i {
        InlineExpression::VariableReference { id } => {
            out.insert(id.name);
        }
        InlineExpression::FunctionReference { arguments, .. } => vars_arguments(arguments, out),
        InlineExpression::TermReference {
            arguments: Some(a), ..
        } => vars_arguments(a, out),
        InlineExpression::Placeable { expression } => vars_expression(expression, out),
        _ => {}
    }
}

/// id → its variables, for one catalogue.
fn messages(tag: &str, source: &'static str) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let resource = fluent_syntax::parser::parse(source)
        .unwrap_or_else(|(_, errors)| panic!("{tag}: the catalogue does not parse: {errors:?}"));
    let mut out = BTreeMap::new();
    for entry in resource.body {
        match entry {
            Entry::Message(m) => {
                let mut vars = BTreeSet::new();
                if let Some(value) = &m.value {
                    vars_pattern(value, &mut vars);
                }
                assert!(m.value.is_some(), "{tag}: {} has no value", m.id.name);
                assert!(
                    out.insert(m.id.name, vars).is_none(),
                    "{tag}: {} is defined twice",
                    m.id.name
                );
            }
            Entry::Junk { content } => panic!("{tag}: unparsable entry: {content}"),
            _ => {}
        }
    }
    out
}

#[test]
fn every_locale_has_every_message_with_the_same_variables() {
    let (english_tag, english_source) = CATALOGUES[0];
    assert_eq!(english_tag, "en");
    let english = messages(english_tag, english_source);
    assert!(
        english.len() > 100,
        "the catalogue has {} messages",
        english.len()
    );
    for (tag, source) in &CATALOGUES[1..] {
        let other = messages(tag, source);
        let missing: Vec<_> = english
            .keys()
            .filter(|id| !other.contains_key(*id))
            .collect();
        assert!(missing.is_empty(), "{tag} lacks {missing:?}");
        let extra: Vec<_> = other
            .keys()
            .filter(|id| !english.contains_key(*id))
            .collect();
        assert!(
            extra.is_empty(),
            "{tag} has messages English lacks: {extra:?}"
        );
        for (id, vars) in &english {
            assert_eq!(&other[id], vars, "{tag}: {id} has different placeholders");
        }
    }
}

/// Every message id the app's code names exists in English (so in every locale, by the test
/// above): a typo would show the id itself to a person.
#[test]
fn every_id_the_code_names_is_in_the_catalogue() {
    let mut english = messages("en", CATALOGUES[0].1);
    english.extend(messages("en", CLI_CATALOGUES[0].1));
    let sources = [
        include_str!("../src/model.rs"),
        include_str!("../src/render.rs"),
        include_str!("../src/app.rs"),
        include_str!("../src/words.rs"),
        include_str!("../../cli/src/main.rs"),
        include_str!("../../cli/src/words.rs"),
        include_str!("../../windows/src/tray.rs"),
    ];
    let mut named = BTreeSet::new();
    for source in sources {
        // Ids with a dash anywhere in quotes, and every argument of Text::of / say / "…" in
        // a message position (ids without a dash: "back", "locked", "done").
        for quoted in source.split('"').skip(1).step_by(2) {
            let looks_like_id = quoted.len() > 2
                && quoted.contains('-')
                && quoted
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit());
            if looks_like_id {
                named.insert(quoted.to_owned());
            }
        }
        for call in ["Text::of(\"", "say(\""] {
            for (at, _) in source.match_indices(call) {
                let rest = &source[at + call.len()..];
                if let Some(end) = rest.find('"') {
                    named.insert(rest[..end].to_owned());
                }
            }
        }
    }
    // Cargo feature names are quoted too.
    named.remove("image-files");
    let missing: Vec<_> = named
        .iter()
        .filter(|id| !english.contains_key(id.as_str()))
        .collect();
    assert!(missing.is_empty(), "ids not in the catalogue: {missing:?}");
}

#[test]
fn the_platform_locale_picks_the_language() {
    let pick = |tags: &[&str]| {
        Words::negotiate(&tags.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
            .tag()
            .to_owned()
    };
    assert_eq!(pick(&["fr-CA", "en-GB"]), "fr");
    assert_eq!(pick(&["de-AT"]), "de");
    assert_eq!(pick(&["it-IT", "de-CH"]), "de");
    assert_eq!(pick(&["ja"]), "en");
    assert_eq!(pick(&[]), "en");
    let french = Words::negotiate(&["fr".into()]);
    assert_eq!(
        french.get(&Text::of("wrong-pin").num("left", 3)),
        "Code PIN erroné. Encore 3 essais avant que ce compte soit verrouillé sur cet appareil."
    );
    let german = Words::negotiate(&["de".into()]);
    assert_eq!(
        german.get(&Text::of("request-countdown").num("seconds", 1)),
        "Noch 1 Sekunde"
    );
    // No isolation marks around placeables (shells would show them).
    let english = Words::negotiate(&["en".into()]);
    let text = english.get(&Text::of("enrol-done").with("service", "Example Mail"));
    assert!(!text.contains('\u{2068}'), "{text:?}");
    assert!(text.contains("Example Mail"), "{text}");
}

/// POSIX locale names become the tags the catalogues are negotiated with.
#[test]
fn posix_locales_name_languages() {
    use latchkey_app::words::posix_to_bcp47;
    assert_eq!(posix_to_bcp47("fr_FR.UTF-8"), "fr-FR");
    assert_eq!(posix_to_bcp47("de_AT@euro"), "de-AT");
    assert_eq!(posix_to_bcp47("C.UTF-8"), "en");
    assert_eq!(posix_to_bcp47("en"), "en");
}
