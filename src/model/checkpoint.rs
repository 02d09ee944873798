//! Checkpoints: `model.safetensors` (weights), `optimizer.safetensors` (AdamW moments),
//! `best.safetensors` (best-validation weights while training) and `config.json` (format
//! version, config, schema, seed, training state). Together they resume `fit` exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};

use super::train::TrainState;
use super::{Stan, StanConfig, resolve_device};
use crate::schema::Schema;
use crate::{Error, Result};

const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    format: u32,
    seed: u64,
    config: StanConfig,
    schema: Schema,
    state: TrainState,
}

/// Write tensors atomically (temporary file + rename).
fn save_tensors(map: &BTreeMap<String, Tensor>, path: &Path) -> Result<()> {
    let tmp = path.with_extension("safetensors.tmp");
    let hm: HashMap<String, Tensor> = map
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.to_dtype(DType::F32)?
                    .to_device(&candle_core::Device::Cpu)?,
            ))
        })
        .collect::<Result<_>>()?;
    candle_core::safetensors::save(&hm, &tmp)?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn load_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    if !path.exists() {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "missing"),
        ));
    }
    Ok(
        candle_core::safetensors::load(path, &candle_core::Device::Cpu)?
            .into_iter()
            .collect(),
    )
}

impl Stan {
    /// Save weights, optimiser state and `config.json` (config + schema + training state) to
    /// `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        save_tensors(&self.net.params.snapshot()?, &dir.join("model.safetensors"))?;
        if !self.opt.m.is_empty() {
            let mut o = BTreeMap::new();
            for (k, v) in &self.opt.m {
                o.insert(format!("m.{k}"), v.clone());
            }
            for (k, v) in &self.opt.v {
                o.insert(format!("v.{k}"), v.clone());
            }
            save_tensors(&o, &dir.join("optimizer.safetensors"))?;
        }
        if let Some(b) = &self.best {
            save_tensors(b, &dir.join("best.safetensors"))?;
        }
        let meta = Meta {
            format: FORMAT,
            seed: self.seed,
            config: self.cfg.clone(),
            schema: self.schema.clone(),
            state: self.state.clone(),
        };
        let json = serde_json::to_string_pretty(&meta).map_err(|e| Error::Other(e.to_string()))?;
        let path = dir.join("config.json");
        let tmp = dir.join("config.json.tmp");
        std::fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Load a model saved by [`Stan::save`] onto `device` ("auto" | "cpu" | "cuda"; overrides
    /// the saved config's device).
    pub fn load(dir: &Path, device: &str) -> Result<Stan> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let meta: Meta = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        if meta.format != FORMAT {
            return Err(Error::Invalid(format!(
                "{}: unsupported format {}",
                path.display(),
                meta.format
            )));
        }
        let mut cfg = meta.config;
        cfg.device = device.to_string();
        let dev = resolve_device(device)?;
        let mut stan = Stan::with_dtype(&meta.schema, &cfg, meta.seed, &dev, DType::F32)?;
        stan.net
            .params
            .restore(&load_tensors(&dir.join("model.safetensors"))?)?;
        let opt_path = dir.join("optimizer.safetensors");
        if opt_path.exists() {
            for (k, v) in load_tensors(&opt_path)? {
                let v = v.to_device(&dev)?;
                if let Some(name) = k.strip_prefix("m.") {
                    stan.opt.m.insert(name.to_string(), v);
                } else if let Some(name) = k.strip_prefix("v.") {
                    stan.opt.v.insert(name.to_string(), v);
                }
            }
        }
        let best_path = dir.join("best.safetensors");
        if best_path.exists() {
            let b = load_tensors(&best_path)?
                .into_iter()
                .map(|(k, v)| Ok((k, v.to_device(&dev)?)))
                .collect::<Result<_>>()?;
            stan.best = Some(b);
        }
        stan.state = meta.state;
        Ok(stan)
    }
}
