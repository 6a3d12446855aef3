//! Uniform printing for the lessons: a title, measurements, an explanation.

use std::time::Duration;

/// A lesson's heading.
pub fn title(name: &str, about: &str) {
    println!();
    println!("== {name}: {about}");
}

/// One measured line: `label ........ value`.
pub fn measure(label: &str, value: impl std::fmt::Display) {
    println!("   {label:<40} {value}");
}

/// The "what this shows" paragraph, wrapped and indented.
pub fn explain(text: &str) {
    let mut line = String::from("   ");
    for w in text.split_whitespace() {
        if line.len() + w.len() > 78 {
            println!("{line}");
            line = String::from("   ");
        }
        line.push(' ');
        line.push_str(w);
    }
    if !line.trim().is_empty() {
        println!("{line}");
    }
}

/// A duration as milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
