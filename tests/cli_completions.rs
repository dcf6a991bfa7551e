//! Shell integration: `specgate completions SHELL`, `specgate man` and `--version`, generated
//! from the one clap definition of the command line.

use std::process::Command;

fn specgate(args: &[&str]) -> (bool, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_specgate"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every subcommand name from `specgate --help`.
fn subcommands() -> Vec<String> {
    let (ok, help, _) = specgate(&["--help"]);
    assert!(ok);
    let cmds: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|w| w != "help")
        .collect();
    assert!(cmds.len() >= 10, "{cmds:?}");
    cmds
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    let cmds = subcommands();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let (ok, out, err) = specgate(&["completions", shell]);
        assert!(ok, "{shell}: {err}");
        for c in &cmds {
            assert!(out.contains(c.as_str()), "{shell} completion lacks {c}");
        }
        // A flag of a subcommand, so the script covers more than the top level.
        assert!(out.contains("reduction-db"), "{shell} lacks --reduction-db");
    }
}

#[test]
fn bash_completion_script_is_valid_bash_and_completes_subcommands() {
    let (ok, script, _) = specgate(&["completions", "bash"]);
    assert!(ok);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("specgate.bash");
    std::fs::write(&path, &script).unwrap();
    // Source it and ask the completion function what follows `specgate fil`.
    let probe = format!(
        "source {}; COMP_WORDS=(specgate fil); COMP_CWORD=1; COMP_LINE='specgate fil'; \
         COMP_POINT=${{#COMP_LINE}}; _specgate specgate fil specgate; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let o = Command::new("bash").args(["-c", &probe]).output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        out.trim(),
        "filter",
        "bash completed `specgate fil` to {out:?}"
    );
}

#[test]
fn unknown_shell_is_a_clear_error() {
    let (ok, _, err) = specgate(&["completions", "tcsh"]);
    assert!(!ok);
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

#[test]
fn man_page_is_roff_naming_every_subcommand_and_renders_with_man() {
    let (ok, page, err) = specgate(&["man"]);
    assert!(ok, "{err}");
    assert!(
        page.starts_with(".ie") || page.contains(".TH specgate"),
        "{page}"
    );
    assert!(page.contains(".TH specgate"));
    for c in subcommands() {
        assert!(page.contains(&c), "man page lacks {c}");
    }
    // When man(1) is installed, the page must render without warnings.
    if Command::new("man").arg("--version").output().is_ok() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("specgate.1");
        std::fs::write(&path, &page).unwrap();
        let o = Command::new("man")
            .args(["--warnings", "-l", path.to_str().unwrap()])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(text.contains("spectral-gate"), "{text}");
    }
}

#[test]
fn version_names_the_git_revision_of_the_checkout() {
    let (ok, out, _) = specgate(&["--version"]);
    assert!(ok);
    assert!(
        out.starts_with(&format!("specgate {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let root = env!("CARGO_MANIFEST_DIR");
    let head = Command::new("git")
        .args(["-C", root, "rev-parse", "--short=10", "HEAD"])
        .output();
    match head {
        Ok(h) if h.status.success() => {
            let rev = String::from_utf8_lossy(&h.stdout).trim().to_string();
            assert!(out.contains(&format!("(git {rev})")), "{out} lacks {rev}");
        }
        // Built from a source copy without git: the plain version, nothing else.
        _ => assert_eq!(
            out.trim(),
            format!("specgate {}", env!("CARGO_PKG_VERSION"))
        ),
    }
}
