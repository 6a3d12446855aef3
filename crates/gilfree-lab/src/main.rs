//! `gilfree-lab`: every classic lesson of concurrency, performed and measured.
//!
//! Each subcommand is one lesson; `tour` runs them all in turn. Every lesson
//! prints what it did, what it measured, and what that shows. `--fast` makes
//! each lesson small enough for the test suite.

use std::process::ExitCode;

use clap::{Arg, ArgAction, Command, value_parser};

mod lessons;
pub mod report;

use lessons::{Ctx, LESSONS};

fn cli() -> Command {
    let common = [
        Arg::new("fast")
            .long("fast")
            .action(ArgAction::SetTrue)
            .global(true)
            .help("Small sizes, for tests and quick looks"),
        Arg::new("chart")
            .long("chart")
            .value_name("FILE.svg")
            .global(true)
            .value_parser(value_parser!(std::path::PathBuf))
            .help("Also draw the lesson's measurements as an SVG chart (where it has one)"),
        Arg::new("threads")
            .long("threads")
            .value_name("N")
            .global(true)
            .value_parser(value_parser!(usize))
            .help("Number of threads or processes to use (where the lesson has one)"),
        Arg::new("trace")
            .long("trace")
            .value_name("FILE.json")
            .global(true)
            .value_parser(value_parser!(std::path::PathBuf))
            .help("Record a trace (Chrome trace events; open it in ui.perfetto.dev), where the lesson has one"),
    ];
    let mut cmd = Command::new("gilfree-lab")
        .about("The lessons of concurrency, performed and measured with gilfree")
        .subcommand_required(true)
        .args(common)
        .subcommand(Command::new("tour").about("Run every lesson in turn"))
        .subcommand(Command::new("list").about("List the lessons"));
    for l in LESSONS {
        cmd = cmd.subcommand(Command::new(l.name).about(l.about));
    }
    cmd
}

fn main() -> ExitCode {
    gilfree::multiprocessing::init(); // a re-executed child runs its task here
    let m = cli().get_matches();
    let (name, sub) = m.subcommand().expect("subcommand_required");
    let ctx = Ctx {
        fast: sub.get_flag("fast") || m.get_flag("fast"),
        chart: sub.get_one::<std::path::PathBuf>("chart").cloned(),
        threads: sub.get_one::<usize>("threads").copied(),
        trace: sub.get_one::<std::path::PathBuf>("trace").cloned(),
    };
    let run = |l: &lessons::Lesson| -> bool {
        report::title(l.name, l.about);
        match (l.run)(&ctx) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("lesson {} failed: {e}", l.name);
                false
            }
        }
    };
    let ok = match name {
        "list" => {
            for l in LESSONS {
                println!("{:<24} {}", l.name, l.about);
            }
            true
        }
        "tour" => {
            let tour_ctx = Ctx {
                chart: None,
                trace: None,
                ..ctx.clone()
            };
            let mut ok = true;
            for l in LESSONS {
                report::title(l.name, l.about);
                if let Err(e) = (l.run)(&tour_ctx) {
                    eprintln!("lesson {} failed: {e}", l.name);
                    ok = false;
                }
            }
            ok
        }
        other => run(LESSONS
            .iter()
            .find(|l| l.name == other)
            .expect("known subcommand")),
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
