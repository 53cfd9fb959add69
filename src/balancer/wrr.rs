//! `WeightedRoundRobin`: the balancer's rotation over plain names, usable on its own.

use std::sync::{Arc, Mutex};

use super::rotation::Rotation;
use super::MAX_WEIGHT;
use crate::error::{Error, Result};

/// Smooth weighted round-robin over named members; `pick` is lock-free, `set_weight`
/// republishes the schedule without blocking pickers.
pub struct WeightedRoundRobin {
    names: Vec<Arc<str>>,
    weights: Mutex<Vec<u32>>,
    rotation: Rotation<Arc<str>>,
}

impl WeightedRoundRobin {
    pub fn new<S: Into<String>>(members: impl IntoIterator<Item = (S, u32)>) -> Result<Self> {
        let (names, weights): (Vec<Arc<str>>, Vec<u32>) = members
            .into_iter()
            .map(|(n, w)| (Arc::from(n.into()), w))
            .unzip();
        if let Some(&heavy) = weights.iter().find(|&&w| w > MAX_WEIGHT) {
            return Err(Error::WeightOutOfRange(heavy.into()));
        }
        let rotation = Rotation::new(names.clone(), &weights);
        Ok(WeightedRoundRobin {
            names,
            weights: Mutex::new(weights),
            rotation,
        })
    }

    #[inline]
    pub fn pick(&self) -> Option<Arc<str>> {
        self.rotation.next()
    }

    pub fn set_weight(&self, name: &str, weight: u32) -> Result<()> {
        if weight > MAX_WEIGHT {
            return Err(Error::WeightOutOfRange(weight.into()));
        }
        let index = self
            .names
            .iter()
            .position(|n| &**n == name)
            .ok_or_else(|| Error::UnknownServer {
                backend: "WeightedRoundRobin".into(),
                server: name.to_string(),
            })?;
        let mut weights = self.weights.lock().unwrap_or_else(|e| e.into_inner());
        weights[index] = weight;
        self.rotation.publish(self.names.clone(), &weights);
        Ok(())
    }

    pub fn weights(&self) -> Vec<(String, u32)> {
        let weights = self.weights.lock().unwrap_or_else(|e| e.into_inner());
        self.names
            .iter()
            .map(|n| n.to_string())
            .zip(weights.iter().copied())
            .collect()
    }

    pub fn cycle(&self) -> Vec<&str> {
        self.rotation
            .cycle()
            .into_iter()
            .map(|i| &*self.names[i as usize])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_weight_and_changes_at_runtime() {
        let wrr = WeightedRoundRobin::new([("a", 3), ("b", 1)]).unwrap();
        assert_eq!(wrr.cycle(), vec!["a", "a", "b", "a"]);
        let picks: Vec<String> = (0..4).map(|_| wrr.pick().unwrap().to_string()).collect();
        assert_eq!(picks, vec!["a", "a", "b", "a"]);
        wrr.set_weight("a", 0).unwrap();
        assert_eq!(wrr.pick().as_deref(), Some("b"));
        wrr.set_weight("b", 0).unwrap();
        assert_eq!(wrr.pick(), None);
        assert!(wrr.set_weight("c", 1).is_err());
        assert!(WeightedRoundRobin::new([("x", 257)]).is_err());
    }
}
