//! One message-passing layer (torch_geometric's `ViS_MP`, or `ViS_MP_Vertex` with vertex
//! features): attention over edges updates scalars and vectors, and every layer but the
//! last updates the edge features from the vectors' parts orthogonal to each edge.

use super::geometry::EdgeGeometry;
use crate::error::Result;
use crate::model::LayerNorm;
use candle_core::{D, Tensor};
use candle_nn::{Linear, Module, VarBuilder};

/// The edge update of every layer but the last.
#[derive(Debug, Clone)]
struct EdgeUpdate {
    f_proj: Linear,
    w_src_proj: Linear,
    w_trg_proj: Linear,
    /// `t_src_proj`, `t_trg_proj` of vertex layers.
    vertex: Option<(Linear, Linear)>,
}

/// One layer's parameters.
#[derive(Debug, Clone)]
pub struct Layer {
    heads: usize,
    hidden: usize,
    layernorm: LayerNorm,
    vec_proj: Linear,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    dk_proj: Linear,
    dv_proj: Linear,
    s_proj: Linear,
    o_proj: Linear,
    edge: Option<EdgeUpdate>,
}

/// The layer's residuals: atom scalars, atom vectors and (but for the last) edges.
pub struct Update {
    /// `[N, H]`.
    pub dx: Tensor,
    /// `[N, C, H]`.
    pub dvec: Tensor,
    /// `[E', H]`, `None` for the last layer.
    pub df: Option<Tensor>,
}

fn no_bias(i: usize, o: usize, vb: VarBuilder) -> Result<Linear> {
    super::linear_no_bias(i, o, vb)
}

impl Layer {
    /// Loads the layer under `vb`.
    pub fn new(
        hidden: usize,
        heads: usize,
        vertex: bool,
        last: bool,
        vb: VarBuilder,
    ) -> Result<Self> {
        let h = hidden;
        let lin = |i, o, name| -> Result<Linear> { super::linear(i, o, vb.pp(name)) };
        let edge = if last {
            None
        } else {
            Some(EdgeUpdate {
                f_proj: lin(h, if vertex { 2 * h } else { h }, "f_proj")?,
                w_src_proj: no_bias(h, h, vb.pp("w_src_proj"))?,
                w_trg_proj: no_bias(h, h, vb.pp("w_trg_proj"))?,
                vertex: match vertex {
                    true => Some((
                        no_bias(h, h, vb.pp("t_src_proj"))?,
                        no_bias(h, h, vb.pp("t_trg_proj"))?,
                    )),
                    false => None,
                },
            })
        };
        Ok(Self {
            heads,
            hidden,
            layernorm: LayerNorm::new(h, vb.pp("layernorm"))?,
            vec_proj: no_bias(h, 3 * h, vb.pp("vec_proj"))?,
            q_proj: lin(h, h, "q_proj")?,
            k_proj: lin(h, h, "k_proj")?,
            v_proj: lin(h, h, "v_proj")?,
            dk_proj: lin(h, h, "dk_proj")?,
            dv_proj: lin(h, h, "dv_proj")?,
            s_proj: lin(h, 2 * h, "s_proj")?,
            o_proj: lin(h, 3 * h, "o_proj")?,
            edge,
        })
    }

    /// The residuals for atom scalars `x` `[N, H]`, vectors `vec` `[N, C, H]` and edge
    /// features `f` `[E', H]`; `vec_norm` is the layer's vector-norm weight `[H]` (a
    /// buffer unless trainable, so the network keeps it).
    pub fn forward(
        &self,
        x: &Tensor,
        vec: &Tensor,
        f: &Tensor,
        g: &EdgeGeometry,
        vec_norm: &Tensor,
    ) -> Result<Update> {
        let (h, heads) = (self.hidden, self.heads);
        let e = g.edges();
        let x = self.layernorm.forward(x)?;
        let vec = vec.broadcast_mul(vec_norm)?;
        let split_heads = |t: Tensor, rows: usize| t.reshape((rows, heads, h / heads));
        let n = x.dims()[0];
        let q = split_heads(self.q_proj.forward(&x)?, n)?;
        let k = split_heads(self.k_proj.forward(&x)?, n)?;
        let v = split_heads(self.v_proj.forward(&x)?, n)?;
        let dk = split_heads(self.dk_proj.forward(f)?.silu()?, e)?;
        let dv = split_heads(self.dv_proj.forward(f)?.silu()?, e)?;
        let vp = self.vec_proj.forward(&vec)?;
        let (vec1, vec2, vec3) = (
            vp.narrow(2, 0, h)?,
            vp.narrow(2, h, h)?,
            vp.narrow(2, 2 * h, h)?,
        );
        let vec_dot = (vec1 * vec2)?.sum(1)?;

        // Messages j → i.
        let q_i = q.index_select(&g.dst, 0)?;
        let k_j = k.index_select(&g.src, 0)?;
        let attn = (q_i * k_j)?.mul(&dk)?.sum(D::Minus1)?.silu()?;
        let attn = attn.broadcast_mul(&g.cutoff.unsqueeze(1)?)?;
        let v_j = (v.index_select(&g.src, 0)? * dv)?
            .broadcast_mul(&attn.unsqueeze(2)?)?
            .reshape((e, h))?;
        let s = self.s_proj.forward(&v_j)?.silu()?;
        let (s1, s2) = (
            s.narrow(1, 0, h)?.unsqueeze(1)?,
            s.narrow(1, h, h)?.unsqueeze(1)?,
        );
        let d = g.sphere.unsqueeze(2)?;
        let vec_j = (vec.index_select(&g.src, 0)?.broadcast_mul(&s1)? + s2.broadcast_mul(&d)?)?;
        let c = vec.dims()[1];
        let x_sum = x.zeros_like()?.index_add(&g.dst, &v_j, 0)?;
        let vec_sum = vec
            .zeros_like()?
            .reshape((n, c * h))?
            .index_add(&g.dst, &vec_j.reshape((e, c * h))?, 0)?
            .reshape((n, c, h))?;

        let o = self.o_proj.forward(&x_sum)?;
        let (o1, o2, o3) = (
            o.narrow(1, 0, h)?,
            o.narrow(1, h, h)?,
            o.narrow(1, 2 * h, h)?,
        );
        let dx = ((vec_dot * o2)? + o3)?;
        let dvec = (vec3.broadcast_mul(&o1.unsqueeze(1)?)? + vec_sum)?;
        let df = match &self.edge {
            Some(edge) => Some(edge.forward(&vec, f, g)?),
            None => None,
        };
        Ok(Update { dx, dvec, df })
    }
}

/// The part of `v` `[E, C, H]` orthogonal to each edge's `d` `[E, C, 1]`.
fn rejection(v: &Tensor, d: &Tensor) -> Result<Tensor> {
    let along = v.broadcast_mul(d)?.sum_keepdim(1)?;
    Ok((v - along.broadcast_mul(d)?)?)
}

impl EdgeUpdate {
    fn forward(&self, vec: &Tensor, f: &Tensor, g: &EdgeGeometry) -> Result<Tensor> {
        // torch_geometric rejects the source's vectors from −d: the same as from d (the
        // sign cancels, exactly in floating point), so both use d.
        let d = g.sphere.unsqueeze(2)?;
        let w1 = rejection(&self.w_trg_proj.forward(vec)?.index_select(&g.dst, 0)?, &d)?;
        let w2 = rejection(&self.w_src_proj.forward(vec)?.index_select(&g.src, 0)?, &d)?;
        let w_dot = (w1 * w2)?.sum(1)?;
        let act = self.f_proj.forward(f)?.silu()?;
        match &self.vertex {
            None => Ok((act * w_dot)?),
            Some((t_src, t_trg)) => {
                // torch_geometric 2.8 projects the target's vectors in both t terms.
                let t1 = rejection(&t_trg.forward(vec)?.index_select(&g.dst, 0)?, &d)?;
                let t2 = rejection(&t_src.forward(vec)?.index_select(&g.dst, 0)?, &d)?;
                let t_dot = (t1 * t2)?.sum(1)?;
                let h = w_dot.dims()[1];
                let f1 = act.narrow(1, 0, h)?;
                let f2 = act.narrow(1, h, h)?;
                Ok(((f1 * w_dot)? + (f2 * t_dot)?)?)
            }
        }
    }
}
