//! `netlab graph`: find the model to draw (a lab that is up, from its record; or a lab file, as
//! `up` would build it), then hand it to `graph` and write what it renders.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use colored::Colorize;

use super::BadInput;
use crate::cli::GraphFormat;
use crate::spec::{self, Lab};
use crate::state;

pub fn graph(
    target: &str,
    name: Option<&str>,
    format: GraphFormat,
    json: bool,
    output: Option<&Path>,
) -> Result<()> {
    let lab = lab_to_draw(target, name)?;
    let g = crate::graph::build(&lab);
    let text = if json {
        serde_json::to_string_pretty(&g)? + "\n"
    } else {
        match format {
            GraphFormat::Dot => crate::graph::dot::render(&g),
            GraphFormat::Mermaid => crate::graph::mermaid::render(&g),
            GraphFormat::Svg => crate::graph::svg::render(&g),
        }
    };
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("writing to standard output"),
            }
        }
    }
}

fn is_lab_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A lab that is up wins over a file of the same name in the current directory.
fn lab_to_draw(target: &str, name: Option<&str>) -> Result<Lab> {
    if is_lab_name(target) {
        if let Some(r) = state::read_record(target)? {
            if name.is_some() {
                return Err(BadInput(format!(
                    "--name is for a lab file; {target} is a lab that is up (drawn as it runs)"
                ))
                .into());
            }
            if !r.complete {
                eprintln!(
                    "{} lab {target} is not completely up (an up failed or is running); drawing the model it was started with",
                    "warning:".yellow().bold()
                );
            }
            return Ok(r.lab);
        }
    }
    let path = Path::new(target);
    if path.symlink_metadata().is_ok() || target.ends_with(".toml") || target.contains('/') {
        return Ok(spec::load(path, name)?);
    }
    let up = state::labs().unwrap_or_default();
    let hint = match spec::close_match(target, up.iter().map(|s| s.as_str())) {
        Some(m) => m,
        None if up.is_empty() => "no lab is up".to_string(),
        None => format!("labs that are up: {}", up.join(", ")),
    };
    Err(BadInput(format!(
        "{target:?} is neither a lab that is up nor a file ({hint}); give the lab file to draw a lab that is not up"
    ))
    .into())
}
