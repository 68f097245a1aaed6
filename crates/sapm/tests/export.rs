//! `sapm::export`: the `.npz` and `.safetensors` files hold the model's
//! weights bit for bit, under the documented names, and a forward pass
//! written from those tensors alone reproduces `Model::predict`.

use faer::Mat;
use sapm::export::{ExportFormat, Tensor, export_bytes, read_stored_zip, tensors};
use sapm::model::Model;
use sapm::scale::{Affine, ScaleKind, Scaling};
use sapm::{Activation, NetworkSpec};

/// 3 inputs, hidden widths 5 and 4, 2 outputs, with a standard scaling.
fn model(activation: Activation) -> Model {
    let mut spec = NetworkSpec::new(vec![3, 5, 4, 2]);
    spec.activation = activation;
    let net = spec.build(7).unwrap();
    let names = |p: &str, n: usize| (0..n).map(|i| format!("{p}{i}")).collect();
    let scaling = Scaling {
        kind: ScaleKind::Standard,
        inputs: Affine {
            shift: vec![500.0, -2.0, 0.1],
            scale: vec![288.0, 0.5, 3.0],
        },
        outputs: Affine {
            shift: vec![1e4, -7.0],
            scale: vec![2500.0, 0.01],
        },
    };
    Model::new(net, names("x,", 3), names("y", 2))
        .unwrap()
        .with_scaling(Some(scaling))
        .unwrap()
}

/// The prediction the docs' numpy/PyTorch loaders compute, from the tensors only.
fn forward(ts: &[Tensor], act: fn(f64) -> f64, x: &[f64]) -> Vec<f64> {
    let get = |n: &str| ts.iter().find(|t| t.name == n).unwrap();
    let (shift, scale) = (get("input_shift"), get("input_scale"));
    let mut h: Vec<f64> = (0..x.len())
        .map(|i| (x[i] - shift.values[i]) / scale.values[i])
        .collect();
    let depth = ts.iter().filter(|t| t.name.ends_with(".weight")).count();
    for l in 0..depth {
        let (w, b) = (
            get(&format!("layer{l}.weight")),
            get(&format!("layer{l}.bias")),
        );
        let (rows, cols) = (w.shape[0], w.shape[1]);
        h = (0..rows)
            .map(|i| {
                let z = b.values[i]
                    + (0..cols)
                        .map(|j| w.values[i * cols + j] * h[j])
                        .sum::<f64>();
                if l + 1 < depth { act(z) } else { z }
            })
            .collect();
    }
    let (oshift, oscale) = (get("output_shift"), get("output_scale"));
    (0..h.len())
        .map(|i| h[i] * oscale.values[i] + oshift.values[i])
        .collect()
}

/// A scalar function (an activation written from its definition).
type Scalar = fn(f64) -> f64;

#[test]
fn tensors_reproduce_the_model_predictions() {
    let acts: [(Activation, Scalar); 3] = [
        (Activation::Tanh, f64::tanh),
        (Activation::Sin, f64::sin),
        (Activation::Sigmoid, |z| 1.0 / (1.0 + (-z).exp())),
    ];
    for (a, f) in acts {
        let m = model(a);
        let ts = tensors(&m);
        let x = Mat::from_fn(3, 6, |i, j| [700.0, -1.5, 2.0][i] * (1.0 - 0.3 * j as f64));
        let u = m.predict(x.as_ref()).unwrap();
        for j in 0..6 {
            let want = forward(&ts, f, &[x[(0, j)], x[(1, j)], x[(2, j)]]);
            for i in 0..2 {
                let scale = m.scaling.as_ref().unwrap().outputs.scale[i];
                let e = (want[i] - u[(i, j)]).abs();
                assert!(e <= 1e-12 * scale, "{a:?} output {i}: {e:e}");
            }
        }
    }
}

#[test]
fn safetensors_hold_the_weights_bit_for_bit() {
    let m = model(Activation::Tanh);
    let bytes = export_bytes(&m, ExportFormat::Safetensors).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let ts = tensors(&m);
    assert_eq!(st.names().len(), ts.len());
    for t in &ts {
        let v = st.tensor(&t.name).unwrap();
        assert_eq!(v.dtype(), safetensors::Dtype::F64);
        assert_eq!(v.shape(), t.shape.as_slice(), "{}", t.name);
        let back: Vec<f64> = v
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(bits(&back), bits(&t.values), "{}", t.name);
    }
    let w = m.net.layer(1);
    let t = &ts[2];
    assert_eq!((t.name.as_str(), t.values[5]), ("layer1.weight", w[(1, 0)]));
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["activation"], "tanh");
    assert_eq!(meta["scaling"], "standard");
    assert_eq!(meta["widths"], "[3,5,4,2]");
    assert_eq!(meta["input_names"], r#"["x,0","x,1","x,2"]"#);
}

#[test]
fn npz_holds_the_weights_bit_for_bit() {
    let m = model(Activation::Tanh);
    let entries = read_stored_zip(&export_bytes(&m, ExportFormat::Npz).unwrap()).unwrap();
    let get = |n: &str| &entries.iter().find(|(k, _)| k == n).expect(n).1;
    for t in tensors(&m) {
        let f = npyz::NpyFile::new(&get(&format!("{}.npy", t.name))[..]).unwrap();
        let shape: Vec<usize> = f.shape().iter().map(|&s| s as usize).collect();
        assert_eq!(shape, t.shape, "{}", t.name);
        assert_eq!(
            bits(&f.into_vec::<f64>().unwrap()),
            bits(&t.values),
            "{}",
            t.name
        );
    }
    let widths = npyz::NpyFile::new(&get("widths.npy")[..]).unwrap();
    assert_eq!(widths.into_vec::<i64>().unwrap(), vec![3, 5, 4, 2]);
    // Strings are numpy unicode arrays: UTF-32LE after the header.
    let act = get("activation.npy");
    assert!(String::from_utf8_lossy(act).contains("'descr': '<U4'"));
    let tail: Vec<u8> = "tanh"
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    assert!(act.ends_with(&tail));
    // Without scaling the file still has the maps, as the identity.
    let plain = Model::new(m.net.clone(), m.input_names.clone(), m.output_names.clone()).unwrap();
    let ts = tensors(&plain);
    let scale = ts.iter().find(|t| t.name == "input_scale").unwrap();
    assert_eq!(scale.values, vec![1.0; 3]);
    assert_eq!(
        export_bytes(&m, ExportFormat::Npz).unwrap(),
        export_bytes(&m, ExportFormat::Npz).unwrap()
    );
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// A PINN trained with the domain map (`pde.scale = "unit"`, the default of a
/// custom spec) on a large box: its exported tensors, run by the docs' loader,
/// give `u` at physical points as `Model::predict` does.
#[test]
fn a_mapped_pinn_exports_its_domain_map() {
    let cfg = sapm::config::TrainConfig::from_toml_str(
        "method = \"lm\"\n[network]\ndepth = 2\nwidth = 6\nactivation = \"tanh\"\n[pde]\nproblem = \"custom\"\n\
         vars = [\"x\", \"t\"]\nlo = [0.0, 0.0]\nhi = [50.0, 20.0]\nc = [\"50\", \"20\"]\n\
         g = \"sin(2*pi*(x/50 - t/20))\"\nn_interior = 40\nn_boundary = 10\nn_test = 5\n",
        &["train.max_iterations=3".into()],
        None,
    )
    .unwrap();
    let m = sapm::fit::fit_pde(&cfg, &mut sapm::driver::NoObserver)
        .unwrap()
        .model;
    let ts = tensors(&m);
    let get = |n: &str| ts.iter().find(|t| t.name == n).unwrap().values.clone();
    assert_eq!(get("input_shift"), vec![25.0, 10.0]);
    assert_eq!(get("input_scale"), vec![25.0, 10.0]);
    let x = Mat::from_fn(2, 4, |i, j| [50.0, 20.0][i] * j as f64 / 3.0);
    let u = m.predict(x.as_ref()).unwrap();
    for j in 0..4 {
        let want = forward(&ts, f64::tanh, &[x[(0, j)], x[(1, j)]]);
        assert!(
            (want[0] - u[(0, j)]).abs() <= 1e-12,
            "{} vs {}",
            want[0],
            u[(0, j)]
        );
    }
    let bytes = export_bytes(&m, ExportFormat::Safetensors).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().clone().unwrap()["scaling"], "minmax");
}
