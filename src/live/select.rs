//! Device selection by id, exact name or unique substring: a pure function over a candidate
//! list, so the rules are testable without any audio host.
//!
//! Order (first rule that matches wins, so an exact hit can never be shadowed by a longer
//! name that merely contains it — "Line 2" never picks "Line 26" when "Line 2" exists):
//! 1. `default` → the host default device;
//! 2. the full id (`alsa:rig_capture`) or the id without its host prefix (`rig_capture`);
//! 3. the exact name, case-insensitively;
//! 4. a case-insensitive substring of the name or of the id, if exactly one device has it.
//!
//! Anything else (no match, or several at the same rule) is an error that lists the candidates.

/// One device as the matcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `host:device` id (cpal `DeviceId` display form).
    pub id: String,
    /// Human-readable name.
    pub name: String,
}

/// What a device query resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The host's default device.
    Default,
    /// Index into the candidate list.
    Index(usize),
}

/// Why a query does not resolve to exactly one device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("no {kind} device matches '{query}'; available:\n{}", list(.candidates))]
    Unknown {
        kind: &'static str,
        query: String,
        candidates: Vec<Candidate>,
    },
    #[error("'{query}' matches several {kind} devices; use an id or the exact name:\n{}", list(.candidates))]
    Ambiguous {
        kind: &'static str,
        query: String,
        candidates: Vec<Candidate>,
    },
}

fn list(c: &[Candidate]) -> String {
    if c.is_empty() {
        return "  (none)".into();
    }
    c.iter()
        .map(|c| format!("  {}  \"{}\"", c.id, c.name))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Resolves `query` against `candidates` (`kind` = "input" or "output", for messages).
pub fn select(
    query: &str,
    candidates: &[Candidate],
    kind: &'static str,
) -> Result<Selection, SelectError> {
    let q = query.trim();
    if q.eq_ignore_ascii_case("default") {
        return Ok(Selection::Default);
    }
    let bare = |id: &str| id.split_once(':').map(|(_, d)| d.to_string());
    let rules: [&dyn Fn(&Candidate) -> bool; 3] = [
        &|c| c.id == q || bare(&c.id).as_deref() == Some(q),
        &|c| c.name.to_lowercase() == q.to_lowercase(),
        &|c| {
            let ql = q.to_lowercase();
            c.name.to_lowercase().contains(&ql) || c.id.to_lowercase().contains(&ql)
        },
    ];
    for rule in rules {
        let hits: Vec<usize> = (0..candidates.len())
            .filter(|&i| rule(&candidates[i]))
            .collect();
        match hits.len() {
            0 => continue,
            1 => return Ok(Selection::Index(hits[0])),
            _ => {
                return Err(SelectError::Ambiguous {
                    kind,
                    query: q.to_string(),
                    candidates: hits.iter().map(|&i| candidates[i].clone()).collect(),
                })
            }
        }
    }
    Err(SelectError::Unknown {
        kind,
        query: q.to_string(),
        candidates: candidates.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devs() -> Vec<Candidate> {
        [
            ("alsa:hw:0,0", "HDA Intel PCH"),
            ("alsa:line2", "Line 2"),
            ("alsa:line26", "Line 26"),
            ("alsa:cable_a", "CABLE Output (VB-Audio Virtual Cable)"),
            ("pulseaudio:rig_in.monitor", "Monitor of RigIn"),
            ("alsa:rig_capture", "Rig capture (rig_in.monitor)"),
        ]
        .iter()
        .map(|(id, name)| Candidate {
            id: id.to_string(),
            name: name.to_string(),
        })
        .collect()
    }

    #[test]
    fn default_selects_the_host_default() {
        assert_eq!(select("default", &devs(), "input"), Ok(Selection::Default));
        assert_eq!(select("DEFAULT", &devs(), "input"), Ok(Selection::Default));
    }

    #[test]
    fn exact_name_wins_over_a_longer_name_that_contains_it() {
        assert_eq!(select("Line 2", &devs(), "input"), Ok(Selection::Index(1)));
        assert_eq!(select("line 2", &devs(), "input"), Ok(Selection::Index(1)));
        assert_eq!(select("Line 26", &devs(), "input"), Ok(Selection::Index(2)));
    }

    #[test]
    fn full_or_bare_id_selects_the_device() {
        assert_eq!(
            select("alsa:hw:0,0", &devs(), "input"),
            Ok(Selection::Index(0))
        );
        assert_eq!(select("hw:0,0", &devs(), "input"), Ok(Selection::Index(0)));
        assert_eq!(
            select("rig_capture", &devs(), "input"),
            Ok(Selection::Index(5))
        );
    }

    #[test]
    fn unique_case_insensitive_substring_selects_the_device() {
        assert_eq!(select("cable", &devs(), "input"), Ok(Selection::Index(3)));
        assert_eq!(select("intel", &devs(), "input"), Ok(Selection::Index(0)));
    }

    #[test]
    fn ambiguous_substring_is_an_error_listing_only_the_matches() {
        // "rig_in.monitor" is the bare id of one device and part of another's name: the id
        // rule decides.
        assert_eq!(
            select("rig_in.monitor", &devs(), "input"),
            Ok(Selection::Index(4))
        );
        let e = select("line", &devs(), "input").unwrap_err();
        match &e {
            SelectError::Ambiguous { candidates, .. } => {
                let ids: Vec<&str> = candidates.iter().map(|c| c.id.as_str()).collect();
                assert_eq!(ids, ["alsa:line2", "alsa:line26"]);
            }
            other => panic!("expected ambiguity, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(
            msg.contains("alsa:line2") && msg.contains("Line 26"),
            "{msg}"
        );
        assert!(!msg.contains("HDA"), "{msg}");
    }

    #[test]
    fn unknown_name_is_an_error_listing_every_candidate() {
        let e = select("speakers", &devs(), "output").unwrap_err();
        assert!(matches!(e, SelectError::Unknown { .. }));
        let msg = e.to_string();
        assert!(msg.contains("no output device matches 'speakers'"), "{msg}");
        for c in devs() {
            assert!(msg.contains(&c.id), "{msg}");
        }
    }

    #[test]
    fn empty_device_list_says_none() {
        let msg = select("x", &[], "input").unwrap_err().to_string();
        assert!(msg.contains("(none)"), "{msg}");
    }
}
