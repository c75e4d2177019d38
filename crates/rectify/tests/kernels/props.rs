//! The invariants of the contract as property tests.

use proptest::prelude::*;
use rectify::{Isa, Kink, Ramp, ReluMask};

fn any_f32_bits() -> impl Strategy<Value = f32> {
    any::<u32>().prop_map(f32::from_bits)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn relu_is_idempotent(x in prop::collection::vec(any_f32_bits(), 0..300)) {
        let mut y = vec![0.0; x.len()];
        rectify::relu(&x, &mut y);
        let mut z = vec![0.0; x.len()];
        rectify::relu(&y, &mut z);
        prop_assert_eq!(bits(&y), bits(&z));
    }

    #[test]
    fn relu_x_minus_relu_neg_x_is_x(x in prop::collection::vec(-1e30f32..1e30, 0..300)) {
        let neg: Vec<f32> = x.iter().map(|v| -v).collect();
        let (mut p, mut q) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        rectify::relu(&x, &mut p);
        rectify::relu(&neg, &mut q);
        for i in 0..x.len() {
            // Equal as numbers: the sign of a zero aside.
            prop_assert_eq!(p[i] - q[i], x[i]);
        }
    }

    #[test]
    fn in_place_equals_out_of_place(
        x in prop::collection::vec(any_f32_bits(), 0..300),
        a in -2.0f64..2.0, t in -1.0f64..1.0, span in 0.001f64..10.0,
    ) {
        let ramp = Ramp::new(a, t, t + span).unwrap();
        let mut y = vec![0.0; x.len()];
        ramp.forward(&x, &mut y);
        let mut z = x.clone();
        ramp.forward_inplace(&mut z);
        prop_assert_eq!(bits(&y), bits(&z));
    }

    #[test]
    fn backward_from_input_output_and_mask_agree(
        x in prop::collection::vec(any_f32_bits(), 0..300),
        dy_bits in any::<u32>(),
    ) {
        let dy = vec![f32::from_bits(dy_bits); x.len()];
        let mut y = vec![0.0; x.len()];
        let mut mask = ReluMask::default();
        rectify::relu_with_mask(&x, &mut y, &mut mask);
        let (mut a, mut b, mut c) = (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
        rectify::relu_backward(&x, &dy, &mut a);
        rectify::relu_backward_from_output(&y, &dy, &mut b);
        rectify::relu_backward_from_mask(&mask, &dy, &mut c);
        prop_assert_eq!(bits(&a), bits(&b));
        prop_assert_eq!(bits(&a), bits(&c));
    }

    #[test]
    fn ramp_backward_from_output_equals_from_input(
        x in prop::collection::vec(any_f32_bits(), 0..200),
        a in 0.0f64..3.0, t in 0.0f64..2.0, span in 0.5f64..10.0, dy_bits in any::<u32>(),
    ) {
        let ramp = Ramp::new(a, t, t + span).unwrap();
        let dy = vec![f32::from_bits(dy_bits); x.len()];
        let mut y = vec![0.0; x.len()];
        ramp.forward(&x, &mut y);
        let (mut from_x, mut from_y) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        ramp.backward(&x, &dy, &mut from_x, Kink::Lower);
        ramp.backward_from_output(&y, &dy, &mut from_y).unwrap();
        prop_assert_eq!(bits(&from_x), bits(&from_y));
    }

    #[test]
    fn every_level_equals_scalar(
        x in prop::collection::vec(any_f32_bits(), 0..300),
        a in -2.0f64..2.0, t in -1.0f64..1.0, span in 0.001f64..10.0,
    ) {
        let ramp = Ramp::new(a, t, t + span).unwrap();
        let run = |isa| rectify::with_isa(isa, || {
            let mut y = vec![0.0; x.len()];
            ramp.forward(&x, &mut y);
            let mut g = vec![0.0; x.len()];
            ramp.backward(&x, &y, &mut g, Kink::Mid);
            (bits(&y), bits(&g))
        }).unwrap();
        let scalar = run(Isa::Scalar);
        for isa in Isa::available() {
            prop_assert_eq!(&run(isa), &scalar);
        }
    }

    #[test]
    fn named_ops_equal_their_general_ramp_form(x in prop::collection::vec(any_f32_bits(), 0..300)) {
        // A cap of 1e300 rounds to +inf in f32, which is no cap: the general kernel runs
        // with ReLU's parameters.
        let general_relu = Ramp::new(0.0, 0.0, 1e300).unwrap();
        let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        rectify::relu(&x, &mut a);
        general_relu.forward(&x, &mut b);
        prop_assert_eq!(bits(&a), bits(&b));
        let leaky0 = Ramp::leaky(0.0).unwrap();
        leaky0.forward(&x, &mut b);
        prop_assert_eq!(bits(&a), bits(&b));
        Ramp::relu6().forward(&x, &mut a);
        Ramp::new(0.0, 0.0, 6.0).unwrap().forward(&x, &mut b);
        prop_assert_eq!(bits(&a), bits(&b));
        Ramp::clipped(6.0).unwrap().forward(&x, &mut b);
        prop_assert_eq!(bits(&a), bits(&b));
    }
}

#[test]
fn bad_parameters_are_errors_not_panics() {
    assert!(Ramp::new(f64::NAN, 0.0, 1.0).is_err());
    assert!(Ramp::new(0.0, f64::INFINITY, f64::INFINITY).is_err());
    assert!(Ramp::new(0.0, 1.0, 1.0).is_err());
    assert!(Ramp::new(0.0, 1.0, 0.5).is_err());
    assert!(Ramp::new(0.0, 0.0, f64::NAN).is_err());
    assert!(Ramp::new(0.0, 0.0, f64::NEG_INFINITY).is_err());
    assert!(Ramp::clipped(0.0).is_err());
    assert!(Ramp::clipped(-1.0).is_err());
    assert!(Ramp::leaky(f64::INFINITY).is_err());
    assert!(rectify::Rrelu::new(0.5, 0.1).is_err());
    assert!(rectify::threshold(&[1.0f32], f64::NAN, 0.0, &mut [0.0]).is_err());
    let msg = Ramp::new(0.0, 2.0, 1.0).unwrap_err().to_string();
    assert!(msg.contains("max_value") && msg.contains('2') && msg.contains('1'), "{msg}");
}

#[test]
#[should_panic(expected = "length mismatch: x has 3 elements but y has 2")]
fn length_mismatch_panics_naming_both_lengths() {
    rectify::relu(&[1.0f32, 2.0, 3.0], &mut [0.0; 2]);
}

#[test]
#[should_panic(expected = "length mismatch: x has 2 elements but dy has 1")]
fn backward_length_mismatch_panics_naming_both_lengths() {
    rectify::relu_backward(&[1.0f32, 2.0], &[1.0], &mut [0.0; 2]);
}

#[test]
fn forcing_an_unavailable_level_is_an_error() {
    for isa in Isa::ALL {
        assert_eq!(rectify::with_isa(isa, || ()).is_ok(), isa.is_available());
    }
}
