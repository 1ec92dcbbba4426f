//! Validated values of the domain. Every constructor normalises first
//! (trim, case) and then validates, so a value that exists is canonical.
//! Errors are plain messages; callers attach the field path.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;

fn has_control_chars(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A creator's unique handle: lowercase `[a-z0-9._]`, 2..24 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handle(String);

impl Handle {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_');
        if !(2..=24).contains(&s.len()) || !ok_chars {
            return Err(format!(
                "handle {raw:?} must be 2 to 24 characters of a-z, 0-9, '.' and '_'"
            ));
        }
        Ok(Self(s))
    }
}

/// An agency's unique slug: lowercase `[a-z0-9-]`, 2..40 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        let ok_chars = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(2..=40).contains(&s.len()) || !ok_chars {
            return Err(format!(
                "slug {raw:?} must be 2 to 40 characters of a-z, 0-9 and '-'"
            ));
        }
        Ok(Self(s))
    }
}

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region([u8; 2]);

impl Region {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_uppercase();
        match isocountry::CountryCode::for_alpha2(&s) {
            Ok(_) => {
                let b = s.as_bytes();
                Ok(Self([b[0], b[1]]))
            }
            Err(_) => Err(format!("{raw:?} is not an ISO 3166-1 alpha-2 region code")),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

/// An ISO 639-1 language code, lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language([u8; 2]);

impl Language {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_lowercase();
        match isolang::Language::from_639_1(&s) {
            Some(_) if s.len() == 2 => {
                let b = s.as_bytes();
                Ok(Self([b[0], b[1]]))
            }
            _ => Err(format!("{raw:?} is not an ISO 639-1 language code")),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_ref())
            }
        }
    )*};
}

impl AsRef<str> for Handle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}
impl AsRef<str> for Region {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}
impl AsRef<str> for Language {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}
display_as_str!(Handle, Slug, Region, Language);

/// Parses, de-duplicates (keeping first-seen order) and bounds a list.
pub fn parse_list<T: PartialEq>(
    raw: &[String],
    what: &str,
    bounds: std::ops::RangeInclusive<usize>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out: Vec<T> = Vec::with_capacity(raw.len());
    for item in raw {
        let v = parse(item)?;
        if !out.contains(&v) {
            out.push(v);
        }
    }
    if !bounds.contains(&out.len()) {
        return Err(format!(
            "{what} needs {} to {} distinct values, got {}",
            bounds.start(),
            bounds.end(),
            out.len()
        ));
    }
    Ok(out)
}

/// A human-readable name: trimmed, 1..=`max` characters, no control characters.
pub fn parse_name(raw: &str, what: &str, max: usize) -> Result<String, String> {
    let s = raw.trim();
    let len = s.chars().count();
    if len == 0 || len > max {
        return Err(format!("{what} must be 1 to {max} characters"));
    }
    if has_control_chars(s) {
        return Err(format!("{what} must not contain control characters"));
    }
    Ok(s.to_owned())
}

/// A birth date, `YYYY-MM-DD`, in the past and after 1900.
pub fn parse_birth_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("birth date {raw:?} must be a date as YYYY-MM-DD"))?;
    let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
    if date > today || date < earliest {
        return Err(format!("birth date {raw} is not plausible"));
    }
    Ok(date)
}

/// Content categories of creators and specialties of agencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Art,
    Beauty,
    Comedy,
    Dance,
    Education,
    Fashion,
    Fitness,
    Food,
    Gaming,
    Lifestyle,
    Music,
    Shopping,
    Sports,
    Tech,
    Travel,
}

impl Category {
    pub const ALL: [Category; 15] = [
        Category::Art,
        Category::Beauty,
        Category::Comedy,
        Category::Dance,
        Category::Education,
        Category::Fashion,
        Category::Fitness,
        Category::Food,
        Category::Gaming,
        Category::Lifestyle,
        Category::Music,
        Category::Shopping,
        Category::Sports,
        Category::Tech,
        Category::Travel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Art => "ART",
            Category::Beauty => "BEAUTY",
            Category::Comedy => "COMEDY",
            Category::Dance => "DANCE",
            Category::Education => "EDUCATION",
            Category::Fashion => "FASHION",
            Category::Fitness => "FITNESS",
            Category::Food => "FOOD",
            Category::Gaming => "GAMING",
            Category::Lifestyle => "LIFESTYLE",
            Category::Music => "MUSIC",
            Category::Shopping => "SHOPPING",
            Category::Sports => "SPORTS",
            Category::Tech => "TECH",
            Category::Travel => "TRAVEL",
        }
    }

    /// The name in running text: "Gaming".
    pub fn title(self) -> &'static str {
        match self {
            Category::Art => "Art",
            Category::Beauty => "Beauty",
            Category::Comedy => "Comedy",
            Category::Dance => "Dance",
            Category::Education => "Education",
            Category::Fashion => "Fashion",
            Category::Fitness => "Fitness",
            Category::Food => "Food",
            Category::Gaming => "Gaming",
            Category::Lifestyle => "Lifestyle",
            Category::Music => "Music",
            Category::Shopping => "Shopping",
            Category::Sports => "Sports",
            Category::Tech => "Tech",
            Category::Travel => "Travel",
        }
    }

    /// Parses a stored list; unknown names (none are ever written) are skipped.
    pub fn parse_stored(stored: &str) -> Vec<Category> {
        stored.split(',').filter_map(|s| s.parse().ok()).collect()
    }

    pub fn join(categories: &[Category]) -> String {
        categories
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for Category {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or(())
    }
}

/// Checks a count of distinct categories against its bounds.
pub fn parse_categories(
    raw: &[Category],
    what: &str,
    bounds: std::ops::RangeInclusive<usize>,
) -> Result<Vec<Category>, String> {
    let mut out = Vec::with_capacity(raw.len());
    for c in raw {
        if !out.contains(c) {
            out.push(*c);
        }
    }
    if !bounds.contains(&out.len()) {
        return Err(format!(
            "{what} needs {} to {} distinct values, got {}",
            bounds.start(),
            bounds.end(),
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_normalised_then_validated() {
        assert_eq!(
            Handle::parse("  Lea.Live_7 ").unwrap().to_string(),
            "lea.live_7"
        );
        assert!(Handle::parse("a").is_err());
        assert!(Handle::parse("has space").is_err());
        assert!(Handle::parse("émilie").is_err());
        assert!(Handle::parse(&"x".repeat(25)).is_err());
    }

    #[test]
    fn slugs_are_normalised_then_validated() {
        assert_eq!(
            Slug::parse(" Star-Agency ").unwrap().to_string(),
            "star-agency"
        );
        assert!(Slug::parse("under_score").is_err());
        assert!(Slug::parse("-").is_err());
    }

    #[test]
    fn regions_and_languages_are_real_iso_codes() {
        assert_eq!(Region::parse(" fr").unwrap().as_str(), "FR");
        assert!(Region::parse("XX").is_err());
        assert!(Region::parse("FRA").is_err());
        assert_eq!(Language::parse("EN ").unwrap().as_str(), "en");
        assert!(Language::parse("zz").is_err());
        assert!(Language::parse("eng").is_err());
    }

    #[test]
    fn lists_are_deduplicated_and_bounded() {
        let raw = vec!["fr".to_owned(), "FR".to_owned(), "en".to_owned()];
        let langs = parse_list(&raw, "languages", 1..=3, Language::parse).unwrap();
        assert_eq!(langs.len(), 2);
        assert!(parse_list(&[], "languages", 1..=3, Language::parse).is_err());
        let cats = [
            Category::Art,
            Category::Music,
            Category::Food,
            Category::Tech,
        ];
        assert!(parse_categories(&cats, "categories", 1..=3).is_err());
        assert_eq!(
            Category::parse_stored(&Category::join(&cats[..2])),
            cats[..2].to_vec()
        );
    }

    #[test]
    fn names_refuse_control_characters_and_blank() {
        assert_eq!(parse_name("  Léa  ", "name", 10).unwrap(), "Léa");
        assert!(parse_name("   ", "name", 10).is_err());
        assert!(parse_name("a\u{0}b", "name", 10).is_err());
        assert!(parse_name(&"é".repeat(11), "name", 10).is_err());
    }

    #[test]
    fn birth_dates_are_plausible_calendar_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(parse_birth_date("2000-02-29", today).is_ok());
        assert!(parse_birth_date("2001-02-29", today).is_err());
        assert!(parse_birth_date("2030-01-01", today).is_err());
        assert!(parse_birth_date("25/11/2000", today).is_err());
    }
}
