//! Which keys a configuration uses. One table decides both the strict check
//! (a key the chosen method or task does not read is an error naming the key
//! and why) and the canonical form written into checkpoints and summaries
//! (only the keys in use).

use super::{Method, TrainConfig};
use crate::net::{BiasInit, WeightInit};

/// Why the dotted `key` has no effect on a run of `cfg`, or `None` if it is
/// read. Section names alone (`pm`) are asked about as well.
pub fn unused_reason(cfg: &TrainConfig, key: &str) -> Option<String> {
    let m = cfg.method;
    let (section, leaf) = key.split_once('.').unwrap_or((key, ""));
    match section {
        "train" if leaf == "batch_size" => (m != Method::LsAdam)
            .then(|| format!("mini-batches are read by ls-adam only, not by method {m}")),
        "method" | "seed" | "threads" | "train" => None,
        "network" => {
            let n = &cfg.network;
            match leaf {
                "depth" | "width" if n.hidden.is_some() => {
                    Some("`network.hidden` sets the widths".into())
                }
                "init_range" if n.init != WeightInit::Uniform => {
                    Some("it is only read with `network.init = \"uniform\"`".into())
                }
                "bias_range" if n.bias_init != BiasInit::Uniform => {
                    Some("it is only read with `network.bias_init = \"uniform\"`".into())
                }
                _ => None,
            }
        }
        "data" => {
            if cfg.pde.is_some() {
                return Some("a `[pde]` run takes its points from `[pde]`".into());
            }
            let d = &cfg.data;
            let file = d.train.is_some();
            match leaf {
                "builtin" | "n_train" | "n_test" | "noise" if file => {
                    Some("`data.train` names a file, so no built-in target is generated".into())
                }
                "test" | "inputs" | "outputs" if !file => {
                    Some("it is only read with a `data.train` file".into())
                }
                "test_fraction" if !file || d.test.is_some() => Some(
                    "it is only read when a `data.train` file is split (no `data.test`)".into(),
                ),
                "seed" if file && d.test.is_some() => {
                    Some("given train and test files are not split or generated".into())
                }
                _ => None,
            }
        }
        "gd" | "adam" | "lbfgs" | "adam_lbfgs" | "elm" | "pm" | "sapm" | "lm" | "sapm_gn" => {
            if !m.reads(section, cfg) {
                let who = Method::readers(section).join(", ");
                let warm = if section == "adam" {
                    " (pm/sapm/sapm-gn with a warm start)"
                } else {
                    ""
                };
                return Some(format!("it is only read by {who}{warm}, not by method {m}"));
            }
            match (section, leaf) {
                ("pm", "omega_mode") => {
                    Some("PM's weights are constant (`omega_mode` is SAPM's)".into())
                }
                ("sapm", "beta") => {
                    Some("`beta` is PM's constant penalty; SAPM's weights are self-adaptive".into())
                }
                (
                    "lm",
                    "solve" | "geodesic" | "geodesic_alpha" | "geodesic_h" | "line_search"
                    | "ls_steps" | "ls_damping" | "varpro_ridge",
                ) if m == Method::SapmGn => Some(format!(
                    "sapm-gn reads only the damping and stopping keys of [lm] (lambda_init, lambda_min, max_trials, tol_grad, tol_step, tol_rel, max_memory_gib), not `{leaf}`; method {m}"
                )),
                ("sapm_gn", "omega_start") if cfg.sapm_gn.omega_ramp == 0 => {
                    Some("it is only read with `sapm_gn.omega_ramp > 0`".into())
                }
                ("lm", "varpro_ridge") if m != Method::Varpro => Some(format!(
                    "it is the output-layer ridge of varpro, not read by method {m}"
                )),
                ("lm", "geodesic_alpha" | "geodesic_h") if !cfg.lm.geodesic => {
                    Some("it is only read with `lm.geodesic = true`".into())
                }
                ("lm", "ls_steps" | "ls_damping") if !cfg.lm.line_search => {
                    Some("it is only read with `lm.line_search = true`".into())
                }
                _ => None,
            }
        }
        "pde" => {
            let Some(p) = &cfg.pde else { return None };
            let custom = p.problem == "custom";
            let transport = p.problem.starts_with("transport");
            let second = p.is_second_order();
            match leaf {
                "beta" if !transport => {
                    Some(format!("problem {:?} has no transport speed", p.problem))
                }
                "k" if p.problem != "helmholtz2d" => Some(format!(
                    "it is the wave number of helmholtz2d, not read by problem {:?}",
                    p.problem
                )),
                "eps" if p.problem != "convdiff1d" => Some(format!(
                    "it is the diffusion of convdiff1d, not read by problem {:?}",
                    p.problem
                )),
                "a" | "r" | "bc" if custom && !second => Some(
                    "it is only read for a second-order custom problem (`pde.order = 2`)".into(),
                ),
                "g" if custom && second => {
                    Some("a second-order problem takes its boundary data from `pde.bc`".into())
                }
                "lo" | "hi" if custom && p.domain.is_some() => {
                    Some("`pde.domain` gives the domain and its bounding box".into())
                }
                "vars" | "lo" | "hi" | "periodic" | "c" | "f" | "g" | "exact" | "order" | "a"
                | "r" | "bc" | "domain"
                    if !custom =>
                {
                    Some(format!(
                        "it defines a custom problem, but the problem is {:?}",
                        p.problem
                    ))
                }
                "omega_floor" | "omega_deriv" if !matches!(m, Method::Pm | Method::Sapm) => {
                    Some(format!("it weights PM/SAPM rows, not read by method {m}"))
                }
                "batch" if cfg.train.batch_size == 0 || m != Method::LsAdam => Some(
                    "it draws the mini-batches of `train.batch_size` (ls-adam), which is not set"
                        .into(),
                ),
                "window_local_time" if p.time_windows <= 1 => {
                    Some("it is only read with `pde.time_windows > 1`".into())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// Every leaf key of `table` (dotted) that `cfg` does not use, with the reason.
pub fn unused_keys(cfg: &TrainConfig, table: &toml::Table) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(cfg, table, "", &mut out);
    out
}

fn walk(cfg: &TrainConfig, table: &toml::Table, prefix: &str, out: &mut Vec<(String, String)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        // Sub-tables of a section (none today) are walked; arrays are values.
        match v {
            toml::Value::Table(t) if prefix.is_empty() => {
                if let Some(why) = unused_reason(cfg, &key)
                    && t.is_empty()
                {
                    out.push((key, why));
                    continue;
                }
                walk(cfg, t, &key, out);
            }
            _ => {
                if let Some(why) = unused_reason(cfg, &key) {
                    out.push((key, why));
                }
            }
        }
    }
}

/// `table` without the keys `cfg` does not use (and without sections left empty).
pub fn prune(cfg: &TrainConfig, table: &mut toml::Table) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for k in keys {
        let drop = match table.get_mut(&k) {
            Some(toml::Value::Table(t)) => {
                let leaves: Vec<String> = t.keys().cloned().collect();
                for leaf in leaves {
                    if unused_reason(cfg, &format!("{k}.{leaf}")).is_some() {
                        t.remove(&leaf);
                    }
                }
                t.is_empty()
            }
            _ => unused_reason(cfg, &k).is_some(),
        };
        if drop {
            table.remove(&k);
        }
    }
}
