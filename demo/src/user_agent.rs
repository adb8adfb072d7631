//! A device's name from its `User-Agent`: "Firefox 133" on "Windows".
//!
//! Deliberately small: the devices page needs a recognisable label for the
//! common browsers and systems, not a database of every agent ever seen, so
//! a few ordered checks replace a heavy parser crate. Order matters because
//! agents claim each other's names (Edge says "Chrome", Chrome says
//! "Safari", Android says "Linux").

/// What a person would call the device: its browser and operating system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Browser and major version, e.g. "Chrome 131"; "Unknown browser".
    pub browser: String,
    /// Operating system, e.g. "macOS"; "Unknown OS".
    pub os: &'static str,
}

/// Reads the browser and system from a `User-Agent` header value.
pub fn parse(agent: &str) -> Device {
    Device {
        browser: browser(agent),
        os: os(agent),
    }
}

fn browser(agent: &str) -> String {
    // (marker, name): the first marker found wins, so impostors come first.
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("EdgiOS/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("FxiOS/", "Firefox"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Version/", "Safari"),
        ("curl/", "curl"),
    ];
    for (marker, name) in BROWSERS {
        if let Some(at) = agent.find(marker) {
            let version: String = agent[at + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return match version.is_empty() {
                true => (*name).to_owned(),
                false => format!("{name} {version}"),
            };
        }
    }
    "Unknown browser".to_owned()
}

fn os(agent: &str) -> &'static str {
    const SYSTEMS: &[(&str, &str)] = &[
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Android", "Android"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ];
    SYSTEMS
        .iter()
        .find(|(marker, _)| agent.contains(marker))
        .map_or("Unknown OS", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(agent: &str) -> (String, &'static str) {
        let device = parse(agent);
        (device.browser, device.os)
    }

    #[test]
    fn common_browsers_and_systems() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome 131",
                "Windows",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
                "Edge 131",
                "Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox 133",
                "Linux",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari 18",
                "macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari 18",
                "iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
                "Chrome 131",
                "Android",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
                "Samsung Internet 26",
                "Android",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
                "Headless Chrome 156",
                "Linux",
            ),
            ("curl/8.5.0", "curl 8", "Unknown OS"),
        ];
        for (agent, browser, os) in cases {
            assert_eq!(names(agent), (browser.to_owned(), os), "{agent}");
        }
    }

    #[test]
    fn unknown_and_empty_agents() {
        assert_eq!(names(""), ("Unknown browser".to_owned(), "Unknown OS"));
        assert_eq!(names("Firefox/"), ("Firefox".to_owned(), "Unknown OS"));
    }
}
