//! Reading a request's cookies, for the API's OAuth pages and the console
//! alike (which may not import each other).

use axum::http::{HeaderMap, header};

/// The value of cookie `name` in the request's `Cookie` headers, if sent.
pub fn value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_by_its_whole_name_across_headers() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, "ab=1; a_b=2".parse().unwrap());
        h.append(header::COOKIE, "a=x=y".parse().unwrap());
        assert_eq!(value(&h, "a"), Some("x=y"));
        assert_eq!(value(&h, "a_b"), Some("2"));
        assert_eq!(value(&h, "b"), None);
    }
}
