//! End-of-run verdicts that a number alone does not make plain: a fit that
//! did no better than a constant is **failed**, with the likely cause.

use crate::driver::Status;
use crate::fit::Summary;
use crate::record::Record;

/// Why the fit failed, or `None` if it did not.
///
/// Regression: the final train MSE is above (or not comparable to) the MSE
/// of the best constant predictor on the training set, the targets' mean
/// (`diagnostics.constant_predictor_mse`). PINN (a run with `rel_l2`): the
/// relative L2 error is at least 1, no better than `u = 0`. The message
/// names the numbers and suggests the likely causes: unscaled targets,
/// too few iterations, the learning rate, divergence.
pub fn failure(s: &Summary, history: &[Record]) -> Option<String> {
    let mut causes = Vec::new();
    if s.status == Status::Diverged {
        causes.push("the run diverged (see its message): lower the learning rate or step".into());
    }
    let head = match s.rel_l2 {
        Some(r) if r.is_nan() => return None, // no exact solution to judge by
        Some(r) if r < 1.0 => return None,
        Some(r) => format!("rel L2 {r:.3e} is no better than u = 0 (rel L2 1)"),
        None => {
            let c = s.diagnostics.constant_predictor_mse;
            if s.train_mse <= c {
                return None;
            }
            let unscaled = s.config.data.scale_kind() == crate::scale::ScaleKind::None;
            if unscaled && (c > 100.0 || (c > 0.0 && c < 1e-6)) {
                causes.push(format!(
                    "the targets are not scaled (their variance is {c:.3e}): set `data.scale = \"standard\"` (or standardise them: subtract the mean, divide by the standard deviation)"
                ));
            }
            format!(
                "train MSE {:.3e} is above {c:.3e}, the MSE of predicting the mean of the targets",
                s.train_mse
            )
        }
    };
    let still_falling = history.len() >= 2 && {
        let a = history[history.len() - 2].values.first().copied();
        let b = history[history.len() - 1].values.first().copied();
        matches!((a, b), (Some(a), Some(b)) if b < 0.99 * a)
    };
    if still_falling && matches!(s.status, Status::MaxIterations | Status::TimeLimit) {
        causes.push(format!(
            "the loss was still falling when the run stopped: more iterations (train.max_iterations = {})",
            s.config.train.max_iterations
        ));
    }
    let m = &s.config;
    let lr = match m.method {
        crate::Method::LsGd => Some(format!("gd.lr = {}", m.gd.lr)),
        crate::Method::LsAdam | crate::Method::LsAdamLbfgs => {
            Some(format!("adam.lr = {}", m.adam.lr))
        }
        crate::Method::Pm | crate::Method::Sapm if m.pm.warm_start > 0 || m.sapm.warm_start > 0 => {
            Some(format!("adam.lr = {} of the warm start", m.adam.lr))
        }
        _ => None,
    };
    if let Some(lr) = lr {
        causes.push(format!(
            "the learning rate ({lr}) may be too small or too large"
        ));
    }
    if causes.is_empty() {
        causes.push("the method or the network may not suit the problem: try ls-adam-lbfgs, or another width or depth".into());
    }
    Some(format!("{head}; likely causes: {}", causes.join("; ")))
}

/// `summary.json` text: the summary, plus `failed` (bool) and `failure`
/// (the message of [`failure`], or null), plus `extra` fields (e.g. the
/// CLI's phase times).
pub fn summary_json(
    s: &Summary,
    history: &[Record],
    extra: &[(&str, serde_json::Value)],
) -> crate::Result<String> {
    let mut v = serde_json::to_value(s)
        .map_err(|e| crate::Error::Data(format!("cannot serialise the summary: {e}")))?;
    if let Some(o) = v.as_object_mut() {
        let f = failure(s, history);
        o.insert("failed".into(), serde_json::Value::Bool(f.is_some()));
        o.insert(
            "failure".into(),
            f.map_or(serde_json::Value::Null, serde_json::Value::String),
        );
        for (k, x) in extra {
            o.insert((*k).to_string(), x.clone());
        }
    }
    serde_json::to_string_pretty(&v)
        .map_err(|e| crate::Error::Data(format!("cannot serialise the summary: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainConfig;

    /// Raw targets in the hundreds: Adam at its default rate ends far above
    /// the mean's MSE. The verdict says so and points at the scaling.
    #[test]
    fn a_fit_worse_than_the_mean_is_failed_with_its_likely_cause() {
        let mut cfg = TrainConfig::default();
        cfg.method = crate::Method::LsAdam;
        cfg.network.depth = 2;
        cfg.network.width = 4;
        cfg.train.max_iterations = 20;
        let mut data = cfg.data.load(0).unwrap();
        for d in [&mut data.train, &mut data.test] {
            for j in 0..d.len() {
                d.y[(0, j)] = 300.0 + 70.0 * d.y[(0, j)];
            }
        }
        let f = crate::fit(&cfg.clone().check().unwrap(), &data).unwrap();
        let why = failure(&f.summary, &f.history).expect("a failed fit");
        assert!(
            why.contains("above") && why.contains("not scaled") && why.contains("adam.lr"),
            "{why}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&summary_json(&f.summary, &f.history, &[]).unwrap()).unwrap();
        assert_eq!(json["failed"], true);
        assert!(json["failure"].as_str().unwrap().contains("not scaled"));
        // A fit of the scaled problem is not failed.
        let data = cfg.data.load(0).unwrap();
        cfg.method = crate::Method::LsLbfgs;
        cfg.network.width = 10;
        cfg.train.max_iterations = 300;
        let f = crate::fit(&cfg.clone().check().unwrap(), &data).unwrap();
        assert_eq!(failure(&f.summary, &f.history), None);
        let json: serde_json::Value =
            serde_json::from_str(&summary_json(&f.summary, &f.history, &[]).unwrap()).unwrap();
        assert_eq!(
            (json["failed"].clone(), json["failure"].clone()),
            (false.into(), serde_json::Value::Null)
        );
    }
}
