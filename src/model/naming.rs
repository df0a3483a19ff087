//! Names derived from the spec: Rust identifiers, singular type names, quoted SQL identifiers.

use heck::ToUpperCamelCase;

/// Rust keywords that cannot be used as plain identifiers (strict and reserved, 2024 edition).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// A spec name (already snake_case, validated) as a Rust identifier: `type` → `r#type`.
pub fn rust_ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

/// The file name (without `.rs`) of the module of a spec name: the identifier without its
/// raw prefix (`type` → module `r#type` → `type.rs`).
pub fn module_file(name: &str) -> String {
    let ident = rust_ident(name);
    ident.strip_prefix("r#").unwrap_or(&ident).to_string()
}

/// A double-quoted SQL identifier (`"order"`), with embedded quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A single-quoted SQL string literal.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Words whose plural is not formed by a suffix rule.
const IRREGULAR: &[(&str, &str)] = &[
    ("people", "person"),
    ("children", "child"),
    ("men", "man"),
    ("women", "woman"),
    ("mice", "mouse"),
    ("geese", "goose"),
    ("teeth", "tooth"),
    ("feet", "foot"),
    ("indices", "index"),
    ("matrices", "matrix"),
    ("vertices", "vertex"),
    ("data", "datum"),
    ("criteria", "criterion"),
];

/// Singular form of an English plural noun (the last word of a snake_case name), by the
/// common suffix rules; words that already look singular are returned unchanged.
pub fn singularize(name: &str) -> String {
    let (head, word) = match name.rfind('_') {
        Some(i) => name.split_at(i + 1),
        None => ("", name),
    };
    format!("{head}{}", singular_word(word))
}

fn singular_word(word: &str) -> String {
    if let Some((_, s)) = IRREGULAR.iter().find(|(p, _)| *p == word) {
        return (*s).to_string();
    }
    let strip = |n: usize| word[..word.len() - n].to_string();
    if word.len() <= 2 {
        return word.to_string();
    }
    if word.ends_with("ies") && word.len() > 4 {
        return format!("{}y", strip(3));
    }
    for suffix in ["sses", "shes", "ches", "xes", "zzes"] {
        if word.ends_with(suffix) {
            return strip(2);
        }
    }
    if word.ends_with("ouses") {
        return strip(1);
    }
    if word.ends_with("uses") {
        return strip(2);
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        return word.to_string();
    }
    if word.ends_with('s') {
        return strip(1);
    }
    word.to_string()
}

/// The noun with its indefinite article: `a product`, `an order`, `a user`, `an hour`.
/// The article follows the sound, guessed from the spelling: a `u` read "you" (`user`,
/// `unit`, `utility`, not `update` or `umbrella`), `eu`, `one`/`once` take `a`; a silent
/// `h` (`hour`, `honest`, `honour`, `heir`) takes `an`.
pub fn with_article(noun: &str) -> String {
    format!("{} {noun}", if vowel_sound(noun) { "an" } else { "a" })
}

fn vowel_sound(noun: &str) -> bool {
    let word = noun.to_ascii_lowercase();
    let word = word.as_str();
    let vowel = |c: u8| b"aeiou".contains(&c);
    if ["hour", "honest", "honor", "honour", "heir"]
        .iter()
        .any(|p| word.starts_with(p))
    {
        return true;
    }
    if word.starts_with("eu") || word.starts_with("one") || word.starts_with("once") {
        return false;
    }
    let b = word.as_bytes();
    if b.first() == Some(&b'u') {
        // "uni…" (unit, unique, union) sounds "you"; other "un…" (undo, unread) does not.
        if word.starts_with("uni") {
            return false;
        }
        if word.starts_with("un") {
            return true;
        }
        // "u" + one consonant + vowel (user, usage, utility, uranium) sounds "you";
        // "u" + two consonants (update, umbrella, upper, urn) does not.
        return !matches!((b.get(1), b.get(2)), (Some(&c), Some(&v)) if !vowel(c) && vowel(v));
    }
    b.first().is_some_and(|&c| vowel(c))
}

/// Rust type name of a resource's row struct: `order_items` → `OrderItem`.
pub fn struct_name(resource: &str) -> String {
    singularize(resource).to_upper_camel_case()
}

/// A Rust enum variant for a wire value: `in-progress` → `InProgress`, `1st` → `V1st`.
pub fn variant_ident(value: &str) -> String {
    let camel = value.to_upper_camel_case();
    match camel.chars().next() {
        Some(c) if c.is_ascii_alphabetic() => camel,
        _ => format!("V{camel}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_forms() {
        for (plural, singular) in [
            ("products", "product"),
            ("users", "user"),
            ("categories", "category"),
            ("addresses", "address"),
            ("boxes", "box"),
            ("branches", "branch"),
            ("statuses", "status"),
            ("status", "status"),
            ("people", "person"),
            ("order_items", "order_item"),
            ("houses", "house"),
            ("keys", "key"),
            ("analysis", "analysis"),
            ("buses", "bus"),
        ] {
            assert_eq!(singularize(plural), singular, "{plural}");
        }
    }

    #[test]
    fn type_and_ident_names() {
        assert_eq!(struct_name("order_items"), "OrderItem");
        assert_eq!(struct_name("reviews"), "Review");
        assert_eq!(rust_ident("type"), "r#type");
        assert_eq!(rust_ident("name"), "name");
        assert_eq!(quote_ident("or\"der"), "\"or\"\"der\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(variant_ident("in-progress"), "InProgress");
        assert_eq!(variant_ident("1st"), "V1st");
        assert_eq!(with_article("order"), "an order");
        assert_eq!(with_article("product"), "a product");
        assert_eq!(with_article("user"), "a user");
    }

    #[test]
    fn articles_follow_the_sound() {
        for (noun, expected) in [
            ("user", "a user"),
            ("unit", "a unit"),
            ("usage_record", "a usage_record"),
            ("utility", "a utility"),
            ("euro_price", "a euro_price"),
            ("update", "an update"),
            ("umbrella", "an umbrella"),
            ("upload", "an upload"),
            ("undo", "an undo"),
            ("item", "an item"),
            ("order_item", "an order_item"),
            ("hour", "an hour"),
            ("house", "a house"),
            ("category", "a category"),
        ] {
            assert_eq!(with_article(noun), expected);
        }
    }
}
