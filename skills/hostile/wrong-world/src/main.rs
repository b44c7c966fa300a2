//! A plain `wasi:cli/command` component: it exports `wasi:cli/run`, not the
//! `weft:skill/skill` world, so the host must refuse to load it as a skill.

fn main() {
    println!("hi");
}
