// CUDA kernels of multipose's fused SchNet ops, compiled at run time with NVRTC
// (src/model/schnet/cuda.rs). No atomics: every output row is owned by one thread row, so
// sums run in a fixed order and results are deterministic.

// out[g, k] = sum over p in [start[g], start[g+1]) of a[ia[p], k] * b[ib[p], k].
// Block: 32 threads along k, blockDim.y groups.
#define GROUPED_PRODUCT(NAME, T)                                                        \
  extern "C" __global__ void NAME(const T *__restrict__ a, const T *__restrict__ b,     \
                                  const unsigned *__restrict__ start,                   \
                                  const unsigned *__restrict__ ia,                      \
                                  const unsigned *__restrict__ ib, T *__restrict__ out, \
                                  unsigned groups, unsigned f) {                        \
    unsigned g = blockIdx.x * blockDim.y + threadIdx.y;                                 \
    if (g >= groups) return;                                                            \
    unsigned s = start[g], e = start[g + 1];                                            \
    for (unsigned k = threadIdx.x; k < f; k += blockDim.x) {                            \
      T acc = 0;                                                                        \
      for (unsigned p = s; p < e; ++p)                                                  \
        acc += a[(size_t)ia[p] * f + k] * b[(size_t)ib[p] * f + k];                     \
      out[(size_t)g * f + k] = acc;                                                     \
    }                                                                                   \
  }

// out[g, k] = sum over p in [start[g], start[g+1]) of a[ia[p], k].
#define GROUPED_SUM(NAME, T)                                                            \
  extern "C" __global__ void NAME(const T *__restrict__ a,                              \
                                  const unsigned *__restrict__ start,                   \
                                  const unsigned *__restrict__ ia, T *__restrict__ out, \
                                  unsigned groups, unsigned f) {                        \
    unsigned g = blockIdx.x * blockDim.y + threadIdx.y;                                 \
    if (g >= groups) return;                                                            \
    unsigned s = start[g], e = start[g + 1];                                            \
    for (unsigned k = threadIdx.x; k < f; k += blockDim.x) {                            \
      T acc = 0;                                                                        \
      for (unsigned p = s; p < e; ++p) acc += a[(size_t)ia[p] * f + k];                 \
      out[(size_t)g * f + k] = acc;                                                     \
    }                                                                                   \
  }

GROUPED_PRODUCT(grouped_product_f32, float)
GROUPED_PRODUCT(grouped_product_f64, double)
GROUPED_SUM(grouped_sum_f32, float)
GROUPED_SUM(grouped_sum_f64, double)

// Shifted softplus max(x, 0) + log1p(exp(-|x|)) - ln 2, and its slope sigmoid(x).
#define UNARY(NAME, T, EXPR)                                                             \
  extern "C" __global__ void NAME(const T *__restrict__ x, T *__restrict__ y, size_t n) { \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;                \
         i += (size_t)blockDim.x * gridDim.x) {                                          \
      T v = x[i];                                                                        \
      y[i] = EXPR;                                                                       \
    }                                                                                    \
  }

UNARY(ssp_f32, float, fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))) - 0.69314718055994531f)
UNARY(ssp_f64, double, fmax(v, 0.0) + log1p(exp(-fabs(v))) - 0.69314718055994531)
UNARY(sigmoid_f32, float, 1.0f / (1.0f + expf(-v)))
UNARY(sigmoid_f64, double, 1.0 / (1.0 + exp(-v)))
