//! "did you mean …?" suggestions by edit distance.

/// The candidate closest to `word`, when it is close enough to be a likely typo
/// (Damerau–Levenshtein distance at most a third of the word and at least 1, or the word
/// is an abbreviation the candidate starts with, like `uniq` for `unique`).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != word)
        .map(|c| {
            let prefix = word.len() >= 3 && c.starts_with(word);
            (
                if prefix {
                    1
                } else {
                    strsim::damerau_levenshtein(word, c)
                },
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean `x`?"` or nothing.
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    did_you_mean(word, candidates)
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["fields", "filters", "indexes"];
        assert_eq!(did_you_mean("fileds", keys), Some("fields"));
        assert_eq!(did_you_mean("indexs", keys), Some("indexes"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(did_you_mean("strng", ["string", "text"]), Some("string"));
        assert_eq!(did_you_mean("uniq", ["unique", "nullable"]), Some("unique"));
    }
}
