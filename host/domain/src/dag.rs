//! Dependency graphs of steps: cycle detection that names the cycle, a
//! deterministic topological order, and which steps are ready to run.

use std::collections::{BTreeMap, BTreeSet};

/// Steps and what each depends on. Names are kept sorted, so every answer is
/// deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
}

/// A dependency cycle, as the path that closes it (`a → b → a`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", .0.join(" → "))]
pub struct Cycle(pub Vec<String>);

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Graph::default()
    }

    /// Adds a node with its dependencies (added as nodes too if missing).
    pub fn add(&mut self, node: impl Into<String>, deps: impl IntoIterator<Item = String>) {
        let deps: BTreeSet<String> = deps.into_iter().collect();
        for d in &deps {
            self.deps.entry(d.clone()).or_default();
        }
        self.deps.entry(node.into()).or_default().extend(deps);
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.deps.keys().map(String::as_str)
    }

    /// What `node` depends on.
    pub fn deps_of(&self, node: &str) -> impl Iterator<Item = &str> {
        self.deps.get(node).into_iter().flatten().map(String::as_str)
    }

    /// Nodes that depend on `node`, directly.
    pub fn dependents_of<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.deps.iter().filter(move |(_, d)| d.contains(node)).map(|(n, _)| n.as_str())
    }

    /// A topological order (dependencies first, ties by name), or the first cycle found.
    pub fn order(&self) -> Result<Vec<String>, Cycle> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            Visiting,
            Done,
        }
        fn visit<'a>(
            g: &'a Graph,
            n: &'a str,
            marks: &mut BTreeMap<&'a str, Mark>,
            path: &mut Vec<&'a str>,
            out: &mut Vec<String>,
        ) -> Result<(), Cycle> {
            match marks.get(n) {
                Some(Mark::Done) => return Ok(()),
                Some(Mark::Visiting) => {
                    let start = path.iter().position(|p| *p == n).unwrap_or(0);
                    let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                    cycle.push(n.to_string());
                    return Err(Cycle(cycle));
                }
                None => {}
            }
            marks.insert(n, Mark::Visiting);
            path.push(n);
            for d in g.deps_of(n) {
                visit(g, d, marks, path, out)?;
            }
            path.pop();
            marks.insert(n, Mark::Done);
            out.push(n.to_string());
            Ok(())
        }
        let mut marks = BTreeMap::new();
        let mut out = Vec::with_capacity(self.deps.len());
        for n in self.nodes() {
            visit(self, n, &mut marks, &mut Vec::new(), &mut out)?;
        }
        Ok(out)
    }

    /// Nodes not yet started whose dependencies have all finished.
    pub fn ready<'a>(&'a self, started: &BTreeSet<String>, finished: &BTreeSet<String>) -> Vec<&'a str> {
        self.deps
            .iter()
            .filter(|(n, deps)| !started.contains(*n) && deps.iter().all(|d| finished.contains(d)))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Tracks which steps are ready as steps finish, in time proportional to
/// their dependencies rather than to the size of the graph.
#[derive(Debug, Clone)]
pub struct Readiness {
    waiting_on: std::collections::HashMap<String, usize>,
    dependents: std::collections::HashMap<String, Vec<String>>,
    ready: Vec<String>,
}

impl Readiness {
    /// Starts with every step that has no dependencies ready.
    pub fn new(g: &Graph) -> Readiness {
        let mut waiting_on = std::collections::HashMap::new();
        let mut dependents: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        let mut ready = Vec::new();
        for (n, deps) in &g.deps {
            waiting_on.insert(n.clone(), deps.len());
            for d in deps {
                dependents.entry(d.clone()).or_default().push(n.clone());
            }
            if deps.is_empty() {
                ready.push(n.clone());
            }
        }
        Readiness { waiting_on, dependents, ready }
    }

    /// Takes the steps that became ready since the last call.
    pub fn take_ready(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ready)
    }

    /// Records that `node` finished; its dependents whose last dependency it
    /// was become ready.
    pub fn finished(&mut self, node: &str) {
        for d in self.dependents.get(node).into_iter().flatten() {
            if let Some(n) = self.waiting_on.get_mut(d) {
                *n -= 1;
                if *n == 0 {
                    self.ready.push(d.clone());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> Graph {
        let mut g = Graph::new();
        g.add("top", []);
        g.add("left", ["top".to_string()]);
        g.add("right", ["top".to_string()]);
        g.add("bottom", ["left".to_string(), "right".to_string()]);
        g
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn orders_dependencies_first_and_ties_by_name() {
        assert_eq!(diamond().order().unwrap(), ["top", "left", "right", "bottom"]);
    }

    #[test]
    fn ready_steps_are_those_whose_dependencies_finished() {
        let g = diamond();
        assert_eq!(g.ready(&set(&[]), &set(&[])), ["top"]);
        assert_eq!(g.ready(&set(&["top"]), &set(&["top"])), ["left", "right"], "both middles at once");
        assert!(g.ready(&set(&["top", "left", "right"]), &set(&["top", "left"])).is_empty());
        assert_eq!(g.ready(&set(&["top", "left", "right"]), &set(&["top", "left", "right"])), ["bottom"]);
    }

    #[test]
    fn readiness_releases_steps_as_their_dependencies_finish() {
        let mut r = Readiness::new(&diamond());
        assert_eq!(r.take_ready(), ["top"]);
        assert!(r.take_ready().is_empty(), "taken once");
        r.finished("top");
        let mut middle = r.take_ready();
        middle.sort();
        assert_eq!(middle, ["left", "right"]);
        r.finished("left");
        assert!(r.take_ready().is_empty(), "bottom still waits for right");
        r.finished("right");
        assert_eq!(r.take_ready(), ["bottom"]);
    }

    #[test]
    fn readiness_agrees_with_ready_on_a_long_chain() {
        let mut g = Graph::new();
        for i in 0..100 {
            g.add(format!("s{i}"), (i > 0).then(|| format!("s{}", i - 1)));
        }
        let mut r = Readiness::new(&g);
        let (mut started, mut finished) = (BTreeSet::new(), BTreeSet::new());
        loop {
            let mut a = r.take_ready();
            let mut b: Vec<String> = g.ready(&started, &finished).into_iter().map(str::to_string).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
            if a.is_empty() {
                break;
            }
            for n in a {
                started.insert(n.clone());
                finished.insert(n.clone());
                r.finished(&n);
            }
        }
        assert_eq!(finished.len(), 100);
    }

    #[test]
    fn a_cycle_is_named_as_a_path() {
        let mut g = Graph::new();
        g.add("a", ["b".to_string()]);
        g.add("b", ["c".to_string()]);
        g.add("c", ["a".to_string()]);
        g.add("d", []);
        let err = g.order().unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: a → b → c → a");
    }

    #[test]
    fn a_self_dependency_is_a_cycle() {
        let mut g = Graph::new();
        g.add("loop", ["loop".to_string()]);
        assert_eq!(g.order().unwrap_err().0, ["loop", "loop"]);
    }

    #[test]
    fn dependents_are_found() {
        let g = diamond();
        assert_eq!(g.dependents_of("top").collect::<Vec<_>>(), ["left", "right"]);
    }
}
