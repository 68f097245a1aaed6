//! `second-order`: every method at equal CPU time on every second-order
//! built-in PDE (issue 12): Poisson 1-D and 2-D (Dirichlet, and mixed
//! Dirichlet/Neumann/Robin), heat 1-D in space-time, Helmholtz 2-D at k = 4
//! and the convection-diffusion boundary layer at eps = 0.01.
//!
//! Every run trains for the same CPU seconds (`--seconds`, `train.clock =
//! "cpu"`, one thread per run) with the optimizers study's method settings.
//! The method list is the full one: a method whose config the library refuses
//! on a problem (today pm, sapm and sapm-gn on second-order PDEs) is left out
//! of the plan, and the report says which and the library's reason, so
//! methods join the study as soon as the library accepts them.
//!
//! Files: this one (problems, plan, execution), `figures` (the refusal
//! lines and the error heat maps of the 2-D problems); the tables and the
//! error-against-time plot are the optimizers study's ([`table`]).
//!
//! [`table`]: super::optimizers::table

mod figures;

use super::optimizers::table::{definitions, problem_sections};
use super::optimizers::{METHODS, NO_ITERATION_LIMIT, extras, pinn_sets, record_every};
use super::pinn::execute_pinn;
use super::{Budget, OptionDoc, PlanInput, ReportBody, ReportInput, Study, StudyInfo};
use crate::error::{Error, Result};
use crate::report::g;
use crate::runner::{RunOutput, RunSpec};
use sapm::config::Checked;
use std::path::Path;

/// The second-order study (see the module docs).
pub struct SecondOrder;

/// One problem: its key (`study.problems`, run ids) and the `pde.*`
/// settings that make it (after the study's common ones).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// Key, e.g. `helmholtz2d-k4`.
    pub key: &'static str,
    /// `key=value` settings.
    pub sets: &'static [&'static str],
}

/// The problems, in report order: one line per built-in (a new built-in
/// joins the study with a line here).
pub const CASES: [Case; 6] = [
    Case {
        key: "poisson1d",
        sets: &["pde.problem=poisson1d", "pde.n_test=1001"],
    },
    Case {
        key: "poisson2d",
        sets: &["pde.problem=poisson2d"],
    },
    Case {
        key: "poisson2d_mixed",
        sets: &["pde.problem=poisson2d_mixed"],
    },
    Case {
        key: "heat1d",
        sets: &["pde.problem=heat1d"],
    },
    Case {
        key: "helmholtz2d-k4",
        sets: &["pde.problem=helmholtz2d", "pde.k=4.0"],
    },
    Case {
        key: "convdiff1d",
        sets: &[
            "pde.problem=convdiff1d",
            "pde.eps=0.01",
            "pde.sampling=grid",
            "pde.n_test=1001",
        ],
    },
];

/// Settings of every run before the problem's: the examples' network
/// (width 20, tanh, L = 4) and points (1000 interior, 200 boundary on 2-D
/// boxes, a 101 x 101 test grid), unit weights.
const COMMON: [&str; 8] = [
    "network.width=20",
    "network.activation=tanh",
    "network.depth=4",
    "pde.n_interior=1000",
    "pde.n_boundary=200",
    "pde.n_test=101",
    "pde.alpha=1.0",
    "pde.beta_bc=1.0",
];

static INFO: StudyInfo = StudyInfo {
    name: "second-order",
    about: "every method at equal CPU time on every second-order built-in PDE (Poisson, heat, Helmholtz, convection-diffusion)",
    budget: Budget {
        seeds: 3,
        iterations: NO_ITERATION_LIMIT,
        seconds: 2.0,
    },
    options: &[
        OptionDoc::new(
            "study.problems",
            "all six",
            "subset of poisson1d, poisson2d, poisson2d_mixed, heat1d, helmholtz2d-k4, convdiff1d",
        ),
        OptionDoc::new(
            "study.methods",
            "all ten",
            "subset of ls-adam, ls-lbfgs, ls-adam-lbfgs, elm, pm, sapm, sapm-warm, lm, varpro, sapm-gn (a method the library refuses on second-order PDEs is left out, and the report says why)",
        ),
    ],
};

/// What the plan does with one problem x method x seed.
enum Planned {
    /// A run of this config.
    Run(Box<(Checked, Vec<String>)>),
    /// The library refuses the method on this problem: its message.
    Refused(String),
}

/// The config of `method` on `case` with `seed`, or the library's refusal of
/// the method (an error on the `method` key); other errors are errors.
fn planned(p: &PlanInput, case: &Case, method: &str, seed: u64) -> Result<Planned> {
    let mut base: Vec<String> = COMMON.iter().map(|s| s.to_string()).collect();
    base.extend(case.sets.iter().map(|s| s.to_string()));
    base.push(format!("train.record_every={}", record_every(method)));
    base.push("train.clock=cpu".into());
    let mut grid = pinn_sets(method, 1)?;
    grid.push(format!("train.max_seconds={:?}", p.budget.seconds));
    // After the method's settings: time decides, not iterations.
    grid.push(format!("train.max_iterations={NO_ITERATION_LIMIT}"));
    match p.config(&base, &[], &grid, seed) {
        Ok(c) => Ok(Planned::Run(Box::new(c))),
        Err(Error::Sapm(sapm::Error::Config { key, reason })) if key == "method" => {
            Ok(Planned::Refused(reason))
        }
        Err(e) => Err(e),
    }
}

/// The problems and methods of a plan.
fn selection(p: &PlanInput) -> Result<(Vec<Case>, Vec<String>)> {
    let cases = p.params.chosen("problems", &CASES, |c| c.key)?;
    let methods = p.params.name_list("methods", &METHODS, &METHODS)?;
    Ok((cases, methods))
}

/// `(problem, method, the library's reason)` of every selected pair the
/// library refuses.
pub fn refused(p: &PlanInput) -> Result<Vec<(&'static str, String, String)>> {
    let (cases, methods) = selection(p)?;
    let mut out = Vec::new();
    for c in &cases {
        for m in &methods {
            if let Planned::Refused(why) = planned(p, c, m, p.first_seed)? {
                out.push((c.key, m.clone(), why));
            }
        }
    }
    Ok(out)
}

impl Study for SecondOrder {
    fn info(&self) -> &'static StudyInfo {
        &INFO
    }

    fn plan(&self, p: &PlanInput) -> Result<Vec<RunSpec>> {
        let (cases, methods) = selection(p)?;
        if p.budget.seconds <= 0.0 {
            return Err(Error::option(
                "--seconds",
                "the second-order study compares methods at equal CPU time: give --seconds > 0",
            ));
        }
        let mut specs = Vec::new();
        for c in &cases {
            for m in &methods {
                for seed in p.seeds() {
                    let Planned::Run(cfg) = planned(p, c, m, seed)? else {
                        break;
                    };
                    // The first seed's model, for the heat maps of 2-D problems.
                    let two_d = cfg.0.pde.as_ref().map(|d| d.problem()).transpose()?;
                    let keep = seed == p.first_seed && two_d.is_some_and(|q| q.dim() == 2);
                    let id = format!("{}-{m}-s{seed}", c.key);
                    specs.push(RunSpec::new(id, m, c.key, *cfg).models(keep, keep));
                }
            }
        }
        Ok(specs)
    }

    fn execute(&self, spec: &RunSpec, _dir: &Path) -> RunOutput {
        let mut out = execute_pinn(self.name(), spec);
        out.row.extra = extras(&out, 1);
        out
    }

    fn report(&self, input: &ReportInput<'_>) -> Result<ReportBody> {
        let mut body = ReportBody {
            definitions: definitions(),
            ..Default::default()
        };
        body.budget_notes.push(format!(
            "equal CPU time (`train.clock = \"cpu\"`, one thread per run): every run trains for --seconds = {} s; no iteration limit; methods with the optimizers study's settings (the examples')",
            g(input.plan.budget.seconds)
        ));
        body.budget_notes.push("width 20, tanh, L = 4; 1000 interior points (random; convdiff1d on a grid), 200 boundary points on 2-D boxes; test grid 101 x 101 (2-D) or 1001 points (1-D); helmholtz2d at k = 4, convdiff1d at eps = 0.01".into());
        let cases: Vec<(&str, bool)> = CASES.iter().map(|c| (c.key, true)).collect();
        problem_sections(input, &cases, &METHODS, &mut body)?;
        body.sections
            .push_str(&figures::refusals(&refused(input.plan)?));
        body.sections.push_str(&figures::heat_maps(
            input.runs,
            &CASES.map(|c| c.key),
            &METHODS,
            input.plots_dir,
        )?);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::{StudyOptions, plan, plan_input};

    /// Every problem x accepted method x seed, at equal CPU time, no
    /// iteration limit; the refused methods (by the library's check) are
    /// left out and listed with the library's reason.
    #[test]
    fn plan_runs_every_accepted_method_and_lists_the_refused_ones() {
        let opts = StudyOptions {
            seeds: Some(2),
            seconds: Some(3.0),
            ..Default::default()
        };
        let (specs, _) = plan("second-order", &opts).unwrap();
        let study = SecondOrder;
        let input = plan_input(&study, &opts, crate::runner::Parallelism::new(1, 1)).unwrap();
        let refused = refused(&input).unwrap();
        let runnable = METHODS.len() * CASES.len() - refused.len();
        assert_eq!(specs.len(), 2 * runnable);
        for m in [
            "ls-adam",
            "ls-lbfgs",
            "ls-adam-lbfgs",
            "lm",
            "varpro",
            "elm",
        ] {
            assert!(refused.iter().all(|r| r.1 != m), "{m} refused: {refused:?}");
        }
        for (_, m, why) in &refused {
            assert!(why.contains(m.trim_end_matches("-warm")), "{m}: {why}");
        }
        for s in &specs {
            let t = &s.cfg.train;
            assert_eq!(t.max_iterations, NO_ITERATION_LIMIT, "{}", s.id);
            assert_eq!(t.max_seconds, 3.0, "{}", s.id);
            assert!(matches!(t.clock, sapm::driver::Clock::Cpu), "{}", s.id);
            assert!(s.cfg.pde.as_ref().unwrap().is_second_order(), "{}", s.id);
        }
        let h = specs
            .iter()
            .find(|s| s.id == "helmholtz2d-k4-lm-s0")
            .unwrap();
        assert_eq!(h.cfg.pde.as_ref().unwrap().k, 4.0);
        assert!(h.keep_model);
        let c = specs.iter().find(|s| s.id == "convdiff1d-lm-s0").unwrap();
        assert!(!c.keep_model);
        assert_eq!(c.cfg.pde.as_ref().unwrap().n_test, 1001);
        let no_time = StudyOptions {
            seconds: Some(0.0),
            ..Default::default()
        };
        let e = plan("second-order", &no_time).unwrap_err().to_string();
        assert!(e.contains("--seconds"), "{e}");
    }
}
