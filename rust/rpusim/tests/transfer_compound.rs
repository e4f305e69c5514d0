//! The transfer compounds (Tiki-Taka v1 and v2) against their step-by-step definition
//! (docs/model_notes.md, "Transfer compounds") on small tiles with deterministic settings, their
//! configuration checks, and their saved state.

mod common;

use common::{bits, uniform};
use rpusim::device::{
    BufferedTransferCompoundParameters, PulsedParameters, TransferCell, TransferCompoundParameters,
    TransferParameters, UnitCell,
};
use rpusim::{DeviceConfig, IoParameters, Matrix, PulseType, Tile, TileConfig, UpdateParameters};

const W_BOUND: f32 = 0.6;
const DW_MIN: f64 = 0.001;

/// A constant-step device without any spread: every pulse moves it by `DW_MIN` exactly, and
/// its bounds are `+-W_BOUND`.
fn exact_device() -> DeviceConfig {
    DeviceConfig::ConstantStep(PulsedParameters {
        dw_min: DW_MIN,
        dw_min_dtod: 0.0,
        dw_min_std: 0.0,
        up_down_dtod: 0.0,
        w_max: f64::from(W_BOUND),
        w_min: -f64::from(W_BOUND),
        w_max_dtod: 0.0,
        w_min_dtod: 0.0,
        ..PulsedParameters::default()
    })
}

/// The shared parameters of the tests: exact devices, a perfect read, a transfer of two
/// columns (or rows) every three samples.
fn transfer(columns: bool) -> TransferParameters {
    TransferParameters {
        unit_cell_devices: vec![exact_device(), exact_device()],
        gamma_vec: vec![0.5, 1.0],
        transfer_every: 3.0,
        units_in_mbatch: false,
        n_reads_per_transfer: 2,
        transfer_columns: columns,
        fast_lr: 0.5,
        transfer_lr: 2.0,
        transfer_forward: IoParameters::perfect(),
        ..TransferParameters::default()
    }
}

/// A tile of `device` whose gradient update is the exact float step (pulse type `none`).
fn tile(device: DeviceConfig, out: usize, inp: usize) -> Tile {
    let config = TileConfig {
        device,
        forward: IoParameters::perfect(),
        backward: IoParameters::perfect(),
        update: UpdateParameters {
            pulse_type: PulseType::None,
            ..UpdateParameters::default()
        },
        ..TileConfig::default()
    };
    Tile::new(out, inp, config, 17).unwrap()
}

fn cell(t: &Tile) -> &TransferCell {
    match &t.devices().cell {
        UnitCell::Transfer(cell) => cell,
        _ => panic!("a transfer compound"),
    }
}

/// The exact float step of pulse type `none`, as MODEL.md §4 defines it.
fn float_step(w: f32, lr: f32, d: f32, x: f32) -> f32 {
    (w - lr * d * x).clamp(-W_BOUND, W_BOUND)
}

/// The compound's definition, by hand: the weight `gamma_A` of `A` (`gamma_C` is 1), the
/// arrays `A` and `C` (row-major), the buffer, the sample count and the next column.
struct Definition {
    out: usize,
    inp: usize,
    gamma_a: f32,
    a: Vec<f32>,
    c: Vec<f32>,
    h: Vec<f32>,
    samples: usize,
    next: usize,
}

/// TTv2's settings in the definition: `(thres_scale, momentum, forget_buffer)`.
type Buffered = (f32, f32, bool);

impl Definition {
    fn new(w: &[f32], out: usize, inp: usize, gamma_a: f32) -> Self {
        Definition {
            out,
            inp,
            gamma_a,
            a: vec![0.0; out * inp],
            c: w.iter().map(|&v| v.clamp(-W_BOUND, W_BOUND)).collect(),
            h: vec![0.0; out * inp],
            samples: 0,
            next: 0,
        }
    }

    /// One update of `n` samples with learning rate `lr`, transfers after every third sample.
    fn update(&mut self, x: &[f32], d: &[f32], lr: f32, columns: bool, buffered: Option<Buffered>) {
        let (out, inp) = (self.out, self.inp);
        for b in 0..x.len() / inp {
            for i in 0..out {
                for j in 0..inp {
                    let k = i * inp + j;
                    // fast_lr = 0.5, not times lr.
                    self.a[k] = float_step(self.a[k], 0.5, d[b * out + i], x[b * inp + j]);
                }
            }
            self.samples += 1;
            if self.samples.is_multiple_of(3) {
                self.transfer(lr, columns, buffered);
            }
        }
    }

    /// Two columns (rows) of `A` onto `C`, from the next one on.
    fn transfer(&mut self, lr: f32, columns: bool, buffered: Option<Buffered>) {
        let (out, inp) = (self.out, self.inp);
        let lines = if columns { inp } else { out };
        for r in 0..2 {
            let s = (self.next + r) % lines;
            for i in 0..out {
                for j in 0..inp {
                    let on = if columns { j == s } else { i == s };
                    let k = i * inp + j;
                    match buffered {
                        // C += transfer_lr lr A on the line: the step with d = -A, x = 1.
                        None if on => self.c[k] = float_step(self.c[k], 2.0 * lr, -self.a[k], 1.0),
                        None => {}
                        Some((thres_scale, momentum, forget)) if on => {
                            let threshold = thres_scale * DW_MIN as f32;
                            // transfer_lr lr, times gamma_A / gamma_C when A counts.
                            let rate = if self.gamma_a > 0.0 {
                                2.0 * lr * self.gamma_a
                            } else {
                                2.0 * lr
                            };
                            let omega = self.h[k] + self.a[k] * rate.abs();
                            let n = (omega / threshold).trunc().clamp(-1.0, 1.0);
                            self.h[k] = match (n == 0.0, forget) {
                                (true, _) => omega,
                                (false, true) => omega * momentum,
                                (false, false) => omega - (1.0 - momentum) * n * threshold,
                            };
                            // One pulse of C towards the sign of n.
                            if n > 0.0 {
                                self.c[k] = (self.c[k] + DW_MIN as f32).min(W_BOUND);
                            } else if n < 0.0 {
                                self.c[k] = (self.c[k] - DW_MIN as f32).max(-W_BOUND);
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        self.next = (self.next + 2) % lines;
    }

    /// `W = gamma_A A + C`.
    fn weights(&self) -> Vec<f32> {
        self.a
            .iter()
            .zip(&self.c)
            .map(|(&a, &c)| self.gamma_a * a + c)
            .collect()
    }
}

/// Runs batches of 4, 2, 5 and 6 samples (transfers after samples 3, 6, 9, 12 and 15: inside a
/// batch, at its end, and between) on `t` and on the definition, and compares every array bit
/// for bit.
fn against_definition(mut t: Tile, columns: bool, buffered: Option<Buffered>) {
    let (out, inp) = (t.out_size(), t.in_size());
    let [gamma_a, gamma_c] = cell(&t).gamma;
    assert_eq!(gamma_c, 1.0);
    let w = uniform(out * inp, -0.7, 0.7, 3);
    t.set_weights(Matrix::new(&w, out, inp).unwrap()).unwrap();
    let mut def = Definition::new(&w, out, inp, gamma_a);
    assert_eq!(bits(t.weights()), bits(&def.weights()), "programmed");
    for (call, n) in [4usize, 2, 5, 6].into_iter().enumerate() {
        let x = uniform(n * inp, -1.0, 1.0, 10 + call as u64);
        let d = uniform(n * out, -1.0, 1.0, 20 + call as u64);
        let lr = 0.3;
        t.update(
            Matrix::new(&x, n, inp).unwrap(),
            Matrix::new(&d, n, out).unwrap(),
            lr,
        )
        .unwrap();
        def.update(&x, &d, lr, columns, buffered);
        let c = cell(&t);
        assert_eq!(bits(&c.weights[0]), bits(&def.a), "A after call {call}");
        assert_eq!(bits(&c.weights[1]), bits(&def.c), "C after call {call}");
        assert_eq!(
            bits(t.weights()),
            bits(&def.weights()),
            "W after call {call}"
        );
        match &c.buffer {
            Some(h) => assert_eq!(bits(h), bits(&def.h), "buffer after call {call}"),
            None => assert!(buffered.is_none(), "TTv2 keeps a buffer"),
        }
        assert_eq!(c.counters.samples, def.samples as u64);
        assert_eq!(c.counters.next_slice, def.next as u64);
    }
    assert_eq!(cell(&t).counters.transfers, 5);
    // The transfers changed C (more than the clipping of the programmed weights did).
    let programmed = Definition::new(&w, out, inp, gamma_a).c;
    let changed = def
        .c
        .iter()
        .zip(&programmed)
        .filter(|(a, b)| a != b)
        .count();
    assert!(changed >= 4, "{changed} weights of C changed");
}

#[test]
fn ttv1_follows_its_definition_on_columns_and_rows() {
    for columns in [true, false] {
        let device = DeviceConfig::TransferCompound(TransferCompoundParameters {
            transfer: transfer(columns),
            transfer_update: UpdateParameters {
                pulse_type: PulseType::None,
                ..UpdateParameters::default()
            },
        });
        against_definition(tile(device, 2, 3), columns, None);
    }
}

#[test]
fn ttv2_follows_its_definition_with_one_pulse_per_threshold() {
    // A fully hidden A (gamma = 0, the default: the network reads C alone, the buffer sees
    // A times transfer_lr lr) and one that counts (gamma_vec = [0.5, 1]: times 0.5 more).
    let cases = [
        (true, 0.1, true, Vec::new()),
        (false, 0.3, false, Vec::new()),
        (true, 0.3, false, vec![0.5, 1.0]),
    ];
    for (columns, momentum, forget, gamma_vec) in cases {
        let hidden = gamma_vec.is_empty();
        let device = DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
            transfer: TransferParameters {
                gamma_vec,
                ..transfer(columns)
            },
            thres_scale: 0.5,
            momentum,
            forget_buffer: forget,
            ..BufferedTransferCompoundParameters::default()
        });
        let t = tile(device, 3, 2);
        assert_eq!(cell(&t).gamma[0] == 0.0, hidden);
        against_definition(t, columns, Some((0.5, momentum as f32, forget)));
    }
}

#[test]
fn a_compound_saves_and_loads_mid_training() {
    let ttv1 = DeviceConfig::TransferCompound(TransferCompoundParameters {
        transfer: transfer(true),
        ..TransferCompoundParameters::default()
    });
    let ttv2 = DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
        transfer: TransferParameters {
            transfer_forward: IoParameters::default(),
            ..transfer(false)
        },
        ..BufferedTransferCompoundParameters::default()
    });
    for device in [ttv1, ttv2] {
        let (out, inp) = (4, 5);
        let config = TileConfig {
            device,
            ..TileConfig::default()
        };
        let mut t = Tile::new(out, inp, config, 8).unwrap();
        let w = uniform(out * inp, -0.5, 0.5, 1);
        t.set_weights(Matrix::new(&w, out, inp).unwrap()).unwrap();
        let step = |t: &mut Tile, call: u64| {
            let x = uniform(7 * inp, -1.0, 1.0, call);
            let d = uniform(7 * out, -1.0, 1.0, call + 50);
            t.update(
                Matrix::new(&x, 7, inp).unwrap(),
                Matrix::new(&d, 7, out).unwrap(),
                0.2,
            )
            .unwrap();
        };
        step(&mut t, 0);
        step(&mut t, 1);
        let mut loaded = Tile::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(loaded, t);
        assert!(cell(&t).counters.transfers > 0);
        for call in 2..5 {
            step(&mut t, call);
            step(&mut loaded, call);
        }
        assert_eq!(loaded.to_bytes(), t.to_bytes());
        // A state whose counters are lost does not load as another state.
        let fresh = Tile::new(out, inp, t.config().clone(), 8).unwrap();
        assert_ne!(fresh.to_bytes(), t.to_bytes());
    }
}

#[test]
fn a_configuration_is_checked_field_by_field() {
    let bad = |device: DeviceConfig, field: &str| {
        let config = TileConfig {
            device,
            ..TileConfig::default()
        };
        let e = config.validate().unwrap_err().to_string();
        assert!(e.contains(field), "{field}: {e}");
    };
    let ttv1 = |transfer| {
        DeviceConfig::TransferCompound(TransferCompoundParameters {
            transfer,
            ..TransferCompoundParameters::default()
        })
    };
    let base = TransferParameters::default();
    bad(
        ttv1(TransferParameters {
            unit_cell_devices: vec![exact_device()],
            ..base.clone()
        }),
        "device.unit_cell_devices",
    );
    bad(
        ttv1(TransferParameters {
            unit_cell_devices: vec![
                exact_device(),
                DeviceConfig::default_of("IdealDevice").unwrap(),
            ],
            ..base.clone()
        }),
        "device.unit_cell_devices[1]",
    );
    bad(
        ttv1(TransferParameters {
            gamma_vec: vec![1.0, 0.0],
            ..base.clone()
        }),
        "device.gamma_vec[1]",
    );
    for (field, v) in [
        ("transfer_every", -1.0),
        ("fast_lr", f64::NAN),
        ("transfer_lr", -0.5),
    ] {
        let mut p = base.clone();
        match field {
            "transfer_every" => p.transfer_every = v,
            "fast_lr" => p.fast_lr = v,
            _ => p.transfer_lr = v,
        }
        bad(ttv1(p), &format!("device.{field}"));
    }
    bad(
        ttv1(TransferParameters {
            n_reads_per_transfer: 0,
            ..base.clone()
        }),
        "device.n_reads_per_transfer",
    );
    bad(
        ttv1(TransferParameters {
            with_reset_prob: 0.5,
            ..base.clone()
        }),
        "device.with_reset_prob",
    );
    bad(
        ttv1(TransferParameters {
            random_selection: true,
            ..base.clone()
        }),
        "device.random_selection",
    );
    let io = IoParameters {
        out_noise: -1.0,
        ..IoParameters::default()
    };
    bad(
        ttv1(TransferParameters {
            transfer_forward: io,
            ..base.clone()
        }),
        "device.transfer_forward.out_noise",
    );
    bad(
        DeviceConfig::TransferCompound(TransferCompoundParameters {
            transfer_update: UpdateParameters {
                desired_bl: 0,
                ..UpdateParameters::default()
            },
            ..TransferCompoundParameters::default()
        }),
        "device.transfer_update.desired_bl",
    );
    let ttv2 = BufferedTransferCompoundParameters::default();
    bad(
        DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
            momentum: 1.5,
            ..ttv2.clone()
        }),
        "device.momentum",
    );
    bad(
        DeviceConfig::BufferedTransferCompound(BufferedTransferCompoundParameters {
            thres_scale: 0.0,
            ..ttv2.clone()
        }),
        "device.thres_scale",
    );
}

#[test]
fn json_takes_aihwkit_names_and_each_compounds_defaults() {
    let parse = |json: &str| TileConfig::from_json(&format!("{{\"device\": {json}}}"));
    let ttv2 = parse(r#"{"type": "BufferedTransferCompound", "transfer_every": 2.0}"#).unwrap();
    let DeviceConfig::BufferedTransferCompound(p) = ttv2.device else {
        panic!("{:?}", ttv2.device)
    };
    assert_eq!(p.transfer.transfer_every, 2.0);
    assert_eq!(p.transfer_update.desired_bl, 1);
    assert!(!p.transfer_update.update_management);
    assert_eq!(
        (p.thres_scale, p.momentum, p.forget_buffer),
        (1.0, 0.1, true)
    );
    let ttv1 = parse(r#"{"type": "TransferCompound", "gamma": 0.1}"#).unwrap();
    let DeviceConfig::TransferCompound(p) = &ttv1.device else {
        panic!("{:?}", ttv1.device)
    };
    assert_eq!(p.transfer_update, UpdateParameters::default());
    assert_eq!(p.transfer.gammas(), [0.1, 1.0]);
    assert_eq!(TileConfig::from_json(&ttv1.to_json()).unwrap(), ttv1);
    for unknown in [
        r#"{"type": "TransferCompound", "transfer_evry": 1.0}"#,
        r#"{"type": "TransferCompound", "thres_scale": 1.0}"#,
    ] {
        assert!(parse(unknown).is_err(), "{unknown}");
    }
}
