//! The C ABI of externally sampled metrics (`osprey::metrics`): define each
//! series once, then hand over one sample set per interval. The JNI bridge
//! (`OspreyNative.metricSeries` / `metrics`) uses the same two functions.

use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicBool, Ordering};

use osprey::AttrValue;
use osprey::metrics::{self, MAX_SERIES, MetricKind, MetricValue, SeriesId};

use crate::error::{fail, metrics_error, osprey_result, osprey_result::*};
use crate::panic::ffi_boundary;

/// Kind of a metric series (`osprey_metric_series`); OR it with
/// `OSPREY_METRIC_DOUBLE` for a floating-point series.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum osprey_metric_kind {
    /// A current value; OTLP Gauge.
    OSPREY_METRIC_GAUGE = 0,
    /// A total that only grows; cumulative monotonic OTLP Sum.
    OSPREY_METRIC_COUNTER = 1,
    /// A total that goes up and down; cumulative non-monotonic OTLP Sum.
    OSPREY_METRIC_UP_DOWN_COUNTER = 2,
}

/// Flag for `osprey_metric_series`' kind: values are exported as doubles
/// (otherwise they are rounded toward zero to integers).
pub const OSPREY_METRIC_DOUBLE: c_int = 16;

/// Which series carry doubles, by series id.
static DOUBLE_SERIES: [AtomicBool; MAX_SERIES] = [const { AtomicBool::new(false) }; MAX_SERIES];

/// Defines a series (or finds the identical one) for [`record_values`].
pub(crate) fn define_series(
    name: &str,
    unit: &str,
    kind: c_int,
    attribute: Option<(&str, &str)>,
) -> Result<u32, osprey_result> {
    let double = kind & OSPREY_METRIC_DOUBLE != 0;
    let base = u8::try_from(kind & !OSPREY_METRIC_DOUBLE).ok();
    let Some(kind) = base.and_then(MetricKind::from_u8) else {
        return Err(fail(
            OSPREY_ERR_INVALID,
            format!(
                "unknown metric kind {kind}: expected 0 (gauge), 1 (counter) or 2 (up-down counter), optionally | 16 (double)"
            ),
        ));
    };
    let attributes: Vec<(&str, AttrValue)> = attribute
        .map(|(k, v)| {
            let value = match v {
                "true" => AttrValue::Bool(true),
                "false" => AttrValue::Bool(false),
                other => AttrValue::from(other),
            };
            (k, value)
        })
        .into_iter()
        .collect();
    let id = metrics::series(name, unit, kind, &attributes).map_err(metrics_error)?;
    DOUBLE_SERIES[id.0 as usize].store(double, Ordering::Relaxed);
    Ok(id.0)
}

/// Hands one sample set to the collector: `values[i]` for series `ids[i]`.
pub(crate) fn record_values(ids: &[u32], values: &[f64]) -> osprey_result {
    let points: Vec<(SeriesId, MetricValue)> = ids
        .iter()
        .zip(values)
        .map(|(&id, &v)| {
            let double = DOUBLE_SERIES
                .get(id as usize)
                .is_some_and(|d| d.load(Ordering::Relaxed));
            let value = if double {
                MetricValue::Double(v)
            } else {
                MetricValue::Int(v as i64)
            };
            (SeriesId(id), value)
        })
        .collect();
    match metrics::record(&points) {
        Ok(()) => OSPREY_OK,
        Err(e) => metrics_error(e),
    }
}

/// Defines a metric series: an OpenTelemetry metric `name` (e.g.
/// `jvm.memory.used`), its UCUM `unit` (`By`, `s`, `{thread}`, `1`), a
/// `kind` (an `osprey_metric_kind`, optionally `| OSPREY_METRIC_DOUBLE`) and
/// at most one attribute (`attr_key`/`attr_value` both NULL for none; the
/// values `true` and `false` become booleans).
/// Writes the series id to `*out_id`. The same definition gives the same id.
/// Takes a lock: define at start-up, record per interval. Works whether or
/// not Osprey is running; at most 1024 series per process.
///
/// Returns `OSPREY_ERR_INVALID` for an unknown kind, an empty name or too
/// many series.
///
/// # Safety
/// `name`, `unit`, `attr_key` and `attr_value` are NULL or NUL-terminated
/// strings; `out_id` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_metric_series(
    name: *const c_char,
    unit: *const c_char,
    kind: c_int,
    attr_key: *const c_char,
    attr_value: *const c_char,
    out_id: *mut u32,
) -> osprey_result {
    ffi_boundary!({
        if out_id.is_null() {
            return fail(OSPREY_ERR_NULL, "`out_id` is NULL");
        }
        // SAFETY: per the caller's contract.
        let strings = unsafe {
            (
                crate::capi::arg_str(name, "name"),
                crate::capi::opt_str(unit, "unit"),
                crate::capi::opt_str(attr_key, "attr_key"),
                crate::capi::opt_str(attr_value, "attr_value"),
            )
        };
        let (name, unit, key, value) = match strings {
            (Ok(n), Ok(u), Ok(k), Ok(v)) => (n, u.unwrap_or("1"), k, v),
            (Err(c), ..) | (_, Err(c), ..) | (.., Err(c), _) | (.., Err(c)) => return c,
        };
        let attribute = match (key, value) {
            (Some(k), Some(v)) => Some((k, v)),
            (None, None) => None,
            _ => {
                return fail(
                    OSPREY_ERR_NULL,
                    "`attr_key` and `attr_value` must both be NULL or both be set",
                );
            }
        };
        match define_series(name, unit, kind, attribute) {
            Ok(id) => {
                // SAFETY: checked non-NULL; writable per the contract.
                unsafe { out_id.write(id) };
                OSPREY_OK
            }
            Err(code) => code,
        }
    })
}

/// Hands one sample set to the collector without blocking: `values[i]` is
/// the value of series `ids[i]` (from `osprey_metric_series`), all sampled
/// now. Exported with the next batch (OTLP metrics, store, console).
///
/// Returns `OSPREY_ERR_NOT_RUNNING` when Osprey is not running,
/// `OSPREY_ERR_QUEUE_FULL` when the set was dropped (counted),
/// `OSPREY_ERR_INVALID` for an undefined id or more than 4096 values.
///
/// # Safety
/// `ids` and `values` are NULL only when `count` is 0, else each points to
/// `count` readable elements.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn osprey_metrics_record(
    ids: *const u32,
    values: *const f64,
    count: usize,
) -> osprey_result {
    ffi_boundary!({
        if count > 0 && (ids.is_null() || values.is_null()) {
            return fail(OSPREY_ERR_NULL, "`ids` or `values` is NULL");
        }
        if count > metrics::MAX_POINTS_PER_SET {
            return fail(OSPREY_ERR_INVALID, "too many values in one sample set");
        }
        let (ids, values) = if count == 0 {
            (&[][..], &[][..])
        } else {
            // SAFETY: non-NULL and `count` readable elements per the contract.
            unsafe {
                (
                    std::slice::from_raw_parts(ids, count),
                    std::slice::from_raw_parts(values, count),
                )
            }
        };
        record_values(ids, values)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_checked_and_recording_without_osprey_is_refused() {
        let mut id = u32::MAX;
        // SAFETY: valid C strings and a writable id.
        unsafe {
            assert_eq!(
                osprey_metric_series(
                    c"ffi.test.util".as_ptr(),
                    c"1".as_ptr(),
                    OSPREY_METRIC_DOUBLE,
                    std::ptr::null(),
                    std::ptr::null(),
                    &mut id
                ),
                OSPREY_OK
            );
            assert_eq!(
                osprey_metric_series(
                    c"ffi.test.bad".as_ptr(),
                    c"1".as_ptr(),
                    7,
                    std::ptr::null(),
                    std::ptr::null(),
                    &mut id
                ),
                OSPREY_ERR_INVALID
            );
            assert_eq!(
                osprey_metric_series(
                    c"ffi.test.half".as_ptr(),
                    c"1".as_ptr(),
                    0,
                    c"k".as_ptr(),
                    std::ptr::null(),
                    &mut id
                ),
                OSPREY_ERR_NULL
            );
            assert_eq!(
                osprey_metrics_record(std::ptr::null(), std::ptr::null(), 1),
                OSPREY_ERR_NULL
            );
        }
        assert!(DOUBLE_SERIES[0].load(Ordering::Relaxed) || id != 0);
        assert_eq!(record_values(&[id], &[0.5]), OSPREY_ERR_NOT_RUNNING);
        assert_eq!(record_values(&[u32::MAX - 1], &[0.5]), OSPREY_ERR_INVALID);
    }
}
