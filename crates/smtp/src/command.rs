//! The command-line parser: one SMTP command line (without its CRLF) into a
//! [`Command`]. It checks the *shape* of a line only; addresses and
//! parameters are interpreted by the session (they depend on its state).

use crate::reply::Reply;

/// One `keyword[=value]` ESMTP parameter of MAIL or RCPT, as written.
/// Validated by [`crate::params`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The keyword, as written (compare case-insensitively).
    pub keyword: String,
    /// The text after the first `=`, if any.
    pub value: Option<String>,
}

/// A parsed SMTP command.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO <domain>`.
    Ehlo(String),
    /// `HELO <domain>`.
    Helo(String),
    /// `MAIL FROM:<reverse-path> [params]`; the path is empty for `<>`.
    Mail {
        /// The address between the angle brackets (source route removed).
        reverse_path: String,
        /// ESMTP parameters.
        params: Vec<Param>,
    },
    /// `RCPT TO:<forward-path> [params]`.
    Rcpt {
        /// The address between the angle brackets (source route removed).
        forward_path: String,
        /// ESMTP parameters.
        params: Vec<Param>,
    },
    /// `DATA`.
    Data,
    /// `RSET`.
    Rset,
    /// `NOOP [string]`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY <string>` (the argument is not kept).
    Vrfy,
    /// `EXPN <string>` (the argument is not kept).
    Expn,
    /// `HELP [string]`.
    Help,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH <mechanism> [initial-response]`.
    Auth {
        /// The mechanism name, upper-cased.
        mechanism: String,
        /// The initial response (base64, or `=` for an empty one).
        initial_response: Option<String>,
    },
}

/// Addresses and SASL responses can be PHI or secrets: Debug shows the
/// command kind only.
impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Command::Ehlo(_) => "Ehlo",
            Command::Helo(_) => "Helo",
            Command::Mail { .. } => "Mail",
            Command::Rcpt { .. } => "Rcpt",
            Command::Data => "Data",
            Command::Rset => "Rset",
            Command::Noop => "Noop",
            Command::Quit => "Quit",
            Command::Vrfy => "Vrfy",
            Command::Expn => "Expn",
            Command::Help => "Help",
            Command::StartTls => "StartTls",
            Command::Auth { .. } => "Auth",
        };
        write!(f, "Command::{name}(..)")
    }
}

/// Why a command line could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line is empty.
    #[error("empty command")]
    Empty,
    /// The line contains a NUL octet.
    #[error("NUL character in command")]
    Nul,
    /// The line contains a control character (bare CR, ...).
    #[error("invalid character in command")]
    ControlChar,
    /// The line is not valid UTF-8.
    #[error("command is not valid UTF-8")]
    Utf8,
    /// The verb is not a known command.
    #[error("unknown command")]
    Unknown,
    /// A known command with wrong arguments; the text is the expected syntax.
    #[error("syntax: {0}")]
    Syntax(&'static str),
}

impl CommandError {
    /// The reply for this error: `500 5.5.2` for an unparsable line,
    /// `501 5.5.4` for wrong arguments.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Empty => Reply::new(500, Some((5, 5, 2)), "Syntax error: empty command"),
            CommandError::Nul => Reply::new(500, Some((5, 5, 2)), "Syntax error: NUL character in command"),
            CommandError::ControlChar => Reply::new(500, Some((5, 5, 2)), "Syntax error: invalid character in command"),
            CommandError::Utf8 => Reply::new(500, Some((5, 5, 2)), "Syntax error: command is not valid UTF-8"),
            CommandError::Unknown => Reply::new(500, Some((5, 5, 2)), "Unknown command"),
            CommandError::Syntax(usage) => Reply::new(501, Some((5, 5, 4)), format!("Syntax: {usage}")),
        }
    }
}

const MAIL_SYNTAX: &str = "MAIL FROM:<address> [parameters]";
const RCPT_SYNTAX: &str = "RCPT TO:<address> [parameters]";

/// Parses one command line, given without its terminating CRLF.
///
/// Verbs are case-insensitive; trailing spaces are ignored.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    if line.contains(&0) {
        return Err(CommandError::Nul);
    }
    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(CommandError::ControlChar);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::Utf8)?;
    let line = line.trim_end_matches([' ', '\t']);
    if line.is_empty() {
        return Err(CommandError::Empty);
    }
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    let arg = rest.map(|r| r.trim_start_matches(' ')).filter(|r| !r.is_empty());
    let no_arg = |cmd: Command, usage: &'static str| match rest {
        None => Ok(cmd),
        Some(_) => Err(CommandError::Syntax(usage)),
    };
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => arg.map(|a| Command::Ehlo(a.to_owned())).ok_or(CommandError::Syntax("EHLO hostname")),
        "HELO" => arg.map(|a| Command::Helo(a.to_owned())).ok_or(CommandError::Syntax("HELO hostname")),
        "MAIL" => {
            let (reverse_path, params) = parse_path_command(rest, "FROM:", MAIL_SYNTAX)?;
            Ok(Command::Mail { reverse_path, params })
        }
        "RCPT" => {
            let (forward_path, params) = parse_path_command(rest, "TO:", RCPT_SYNTAX)?;
            Ok(Command::Rcpt { forward_path, params })
        }
        "DATA" => no_arg(Command::Data, "DATA"),
        "RSET" => no_arg(Command::Rset, "RSET"),
        "QUIT" => no_arg(Command::Quit, "QUIT"),
        "STARTTLS" => no_arg(Command::StartTls, "STARTTLS"),
        "NOOP" => Ok(Command::Noop),
        "HELP" => Ok(Command::Help),
        "VRFY" => arg.map(|_| Command::Vrfy).ok_or(CommandError::Syntax("VRFY address")),
        "EXPN" => arg.map(|_| Command::Expn).ok_or(CommandError::Syntax("EXPN list")),
        "AUTH" => {
            let usage = "AUTH mechanism [initial-response]";
            let mut words = arg.ok_or(CommandError::Syntax(usage))?.split(' ').filter(|w| !w.is_empty());
            let mechanism = words.next().ok_or(CommandError::Syntax(usage))?;
            let initial = words.next().map(str::to_owned);
            if words.next().is_some() {
                return Err(CommandError::Syntax(usage));
            }
            Ok(Command::Auth { mechanism: mechanism.to_ascii_uppercase(), initial_response: initial })
        }
        _ => Err(CommandError::Unknown),
    }
}

/// Parses `FROM:<path> params` / `TO:<path> params`: the keyword is
/// case-insensitive, one space after the colon is tolerated, the path must be
/// in angle brackets and be followed by nothing or by a space and parameters.
fn parse_path_command(
    rest: Option<&str>,
    keyword: &str,
    usage: &'static str,
) -> Result<(String, Vec<Param>), CommandError> {
    let err = CommandError::Syntax(usage);
    let rest = rest.ok_or(err.clone())?;
    let head = rest.get(..keyword.len()).ok_or(err.clone())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return Err(err);
    }
    let rest = &rest[keyword.len()..];
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let inner = rest.strip_prefix('<').ok_or(err.clone())?;
    let close = closing_bracket(inner).ok_or(err.clone())?;
    let path = &inner[..close];
    let after = &inner[close + 1..];
    let params_text = if after.is_empty() { "" } else { after.strip_prefix(' ').ok_or(err.clone())? };
    let params = params_text
        .split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => Param { keyword: k.to_owned(), value: Some(v.to_owned()) },
            None => Param { keyword: p.to_owned(), value: None },
        })
        .collect();
    Ok((strip_source_route(path).to_owned(), params))
}

/// Index of the `>` closing a path, skipping quoted strings (`"a>b"@x`).
fn closing_bracket(s: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '>' if !in_quotes => return Some(i),
            '<' if !in_quotes => return None,
            _ => {}
        }
    }
    None
}

/// RFC 5321 §4.1.2: a source route (`@a,@b:user@dom`) is accepted and ignored.
fn strip_source_route(path: &str) -> &str {
    if path.starts_with('@')
        && let Some(i) = path.find(':')
    {
        return &path[i + 1..];
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(line: &str) -> Result<Command, CommandError> {
        parse_command(line.as_bytes())
    }

    fn param(k: &str, v: Option<&str>) -> Param {
        Param { keyword: k.into(), value: v.map(Into::into) }
    }

    #[test]
    fn simple_verbs_are_case_insensitive() {
        assert_eq!(p("ehlo client.example"), Ok(Command::Ehlo("client.example".into())));
        assert_eq!(p("HeLo x"), Ok(Command::Helo("x".into())));
        assert_eq!(p("data"), Ok(Command::Data));
        assert_eq!(p("RSET"), Ok(Command::Rset));
        assert_eq!(p("noop anything goes"), Ok(Command::Noop));
        assert_eq!(p("QUIT  "), Ok(Command::Quit));
        assert_eq!(p("help mail"), Ok(Command::Help));
        assert_eq!(p("VRFY someone"), Ok(Command::Vrfy));
        assert_eq!(p("expn staff"), Ok(Command::Expn));
        assert_eq!(p("StartTLS"), Ok(Command::StartTls));
    }

    #[test]
    fn missing_and_unexpected_arguments() {
        assert_eq!(p("EHLO"), Err(CommandError::Syntax("EHLO hostname")));
        assert_eq!(p("EHLO   "), Err(CommandError::Syntax("EHLO hostname")));
        assert_eq!(p("HELO"), Err(CommandError::Syntax("HELO hostname")));
        assert_eq!(p("DATA now"), Err(CommandError::Syntax("DATA")));
        assert_eq!(p("STARTTLS x"), Err(CommandError::Syntax("STARTTLS")));
        assert_eq!(p("RSET x"), Err(CommandError::Syntax("RSET")));
        assert_eq!(p("VRFY"), Err(CommandError::Syntax("VRFY address")));
        assert!(matches!(p("AUTH"), Err(CommandError::Syntax(_))));
        assert!(matches!(p("AUTH PLAIN a b"), Err(CommandError::Syntax(_))));
        assert_eq!(p("EHLO").map_err(|e| e.reply().code), Err(501));
    }

    #[test]
    fn bad_lines() {
        assert_eq!(p(""), Err(CommandError::Empty));
        assert_eq!(p("   "), Err(CommandError::Empty));
        assert_eq!(p("NO\0OP"), Err(CommandError::Nul));
        assert_eq!(p("NOOP\r"), Err(CommandError::ControlChar));
        assert_eq!(parse_command(b"NOOP \xff"), Err(CommandError::Utf8));
        assert_eq!(p("BDAT 10 LAST"), Err(CommandError::Unknown));
        assert_eq!(p("MAILFROM:<a@b.c>"), Err(CommandError::Unknown));
        let r = CommandError::Unknown.reply();
        assert_eq!((r.code, r.enhanced), (500, Some((5, 5, 2))));
        assert_eq!(CommandError::Nul.reply().code, 500);
    }

    #[test]
    fn mail_from_shapes() {
        assert_eq!(
            p("MAIL FROM:<a@b.example>"),
            Ok(Command::Mail { reverse_path: "a@b.example".into(), params: vec![] })
        );
        assert_eq!(p("mail from: <>"), Ok(Command::Mail { reverse_path: String::new(), params: vec![] }));
        assert_eq!(
            p("MAIL FROM:<a@b.example> SIZE=100 BODY=8BITMIME  SMTPUTF8"),
            Ok(Command::Mail {
                reverse_path: "a@b.example".into(),
                params: vec![param("SIZE", Some("100")), param("BODY", Some("8BITMIME")), param("SMTPUTF8", None)]
            })
        );
        for bad in [
            "MAIL",
            "MAIL FROM",
            "MAIL FROM:a@b.example",
            "MAIL FROM:<a@b.example",
            "MAIL FROM:<a@b.example>SIZE=1",
            "MAIL FROM:  <a@b.example>",
            "MAIL TO:<a@b.example>",
            "MAIL  FROM:<a@b.example>",
            "MAIL FROM:<<a@b.example>>",
        ] {
            assert_eq!(p(bad), Err(CommandError::Syntax(MAIL_SYNTAX)), "{bad}");
        }
    }

    #[test]
    fn rcpt_paths_with_quotes_and_source_routes() {
        assert_eq!(
            p("RCPT TO:<\"a>b\"@x.example> NOTIFY=NEVER"),
            Ok(Command::Rcpt {
                forward_path: "\"a>b\"@x.example".into(),
                params: vec![param("NOTIFY", Some("NEVER"))]
            })
        );
        assert_eq!(
            p("RCPT TO:<@relay.example,@r2.example:u@x.example>"),
            Ok(Command::Rcpt { forward_path: "u@x.example".into(), params: vec![] })
        );
        assert_eq!(p("RCPT FROM:<a@b.c>"), Err(CommandError::Syntax(RCPT_SYNTAX)));
    }

    #[test]
    fn auth_mechanism_is_uppercased_and_response_kept() {
        assert_eq!(
            p("auth plain AGEAYg=="),
            Ok(Command::Auth { mechanism: "PLAIN".into(), initial_response: Some("AGEAYg==".into()) })
        );
        assert_eq!(p("AUTH LOGIN"), Ok(Command::Auth { mechanism: "LOGIN".into(), initial_response: None }));
    }

    #[test]
    fn debug_hides_arguments() {
        let c = p("RCPT TO:<patient@clinic.example>").unwrap();
        assert!(!format!("{c:?}").contains("patient"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_command(&line);
        }

        #[test]
        fn mail_round_trips_generated_commands(
            verb in "(?i)mail",
            local in "[a-z0-9.+_-]{1,20}",
            domain in "[a-z0-9]{1,10}\\.[a-z]{2,5}",
            space in proptest::bool::ANY,
            params in proptest::collection::vec(("[A-Z][A-Z0-9-]{0,8}", proptest::option::of("[!-<>-~]{1,10}")), 0..4),
        ) {
            let mut line = format!("{verb} FROM:{}<{local}@{domain}>", if space { " " } else { "" });
            for (k, v) in &params {
                line.push(' ');
                line.push_str(k);
                if let Some(v) = v {
                    line.push('=');
                    line.push_str(v);
                }
            }
            let expected: Vec<Param> = params.iter().map(|(k, v)| param(k, v.as_deref())).collect();
            prop_assert_eq!(
                parse_command(line.as_bytes()),
                Ok(Command::Mail { reverse_path: format!("{local}@{domain}"), params: expected })
            );
        }

        #[test]
        fn unknown_verbs_are_rejected(verb in "[A-Za-z]{1,10}") {
            let known = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH"];
            prop_assume!(!known.contains(&verb.to_ascii_uppercase().as_str()));
            prop_assert_eq!(parse_command(format!("{verb} x").as_bytes()), Err(CommandError::Unknown));
        }

        #[test]
        fn any_control_char_is_refused(prefix in "[A-Z ]{0,10}", c in 1u8..0x20, suffix in "[a-z ]{0,10}") {
            prop_assume!(c != b'\t');
            let mut line = prefix.into_bytes();
            line.push(c);
            line.extend_from_slice(suffix.as_bytes());
            prop_assert_eq!(parse_command(&line), Err(CommandError::ControlChar));
        }
    }
}
