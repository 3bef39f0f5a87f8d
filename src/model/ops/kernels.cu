// CUDA kernels of multipose's fused SchNet ops, compiled at run time with NVRTC
// (src/model/schnet/cuda.rs). No atomics: every output row is owned by one thread row, so
// sums run in a fixed order and results are deterministic.

// out[g, k] = sum over p in [start[g], start[g+1]) of a[ia[p], k] (* b[ib[p], k]).
// One block per (group, 32 columns): threadIdx.x picks the column, the 8 thread rows take
// every 8th position of the group, and their partial sums are added in a fixed order, so
// a group of thousands of items (pooling a protein) is as parallel as a group of a few.
#define GROUPED(NAME, T, TERM)                                                          \
  extern "C" __global__ void NAME(const T *__restrict__ a, const T *__restrict__ b,     \
                                  const unsigned *__restrict__ start,                   \
                                  const unsigned *__restrict__ ia,                      \
                                  const unsigned *__restrict__ ib, T *__restrict__ out, \
                                  unsigned groups, unsigned f) {                        \
    __shared__ T part[8][33];                                                           \
    unsigned g = blockIdx.x, k = blockIdx.y * 32 + threadIdx.x;                         \
    unsigned s = start[g], e = start[g + 1];                                            \
    T acc = 0;                                                                          \
    if (k < f)                                                                          \
      for (unsigned p = s + threadIdx.y; p < e; p += 8) acc += TERM;                    \
    part[threadIdx.y][threadIdx.x] = acc;                                               \
    __syncthreads();                                                                    \
    if (threadIdx.y == 0 && k < f) {                                                    \
      for (int r = 1; r < 8; ++r) acc += part[r][threadIdx.x];                          \
      out[(size_t)g * f + k] = acc;                                                     \
    }                                                                                   \
  }

#define PRODUCT_TERM a[(size_t)ia[p] * f + k] * b[(size_t)ib[p] * f + k]
#define SUM_TERM a[(size_t)ia[p] * f + k]
// The sums take (and ignore) b and ib too, so all four share one signature.
GROUPED(grouped_product_f32, float, PRODUCT_TERM)
GROUPED(grouped_product_f64, double, PRODUCT_TERM)
GROUPED(grouped_sum_f32, float, SUM_TERM)
GROUPED(grouped_sum_f64, double, SUM_TERM)

// The f32 sums with four columns per thread (f divisible by 4, rows 16-byte aligned):
// one warp reads a whole 128-column row per step, and each index is loaded once per row.
#define GROUPED4(NAME, PRODUCT)                                                         \
  extern "C" __global__ void NAME(const float4 *__restrict__ a,                        \
                                  const float4 *__restrict__ b,                        \
                                  const unsigned *__restrict__ start,                   \
                                  const unsigned *__restrict__ ia,                      \
                                  const unsigned *__restrict__ ib,                      \
                                  float4 *__restrict__ out, unsigned groups,            \
                                  unsigned f4) {                                        \
    __shared__ float4 part[8][32];                                                      \
    unsigned g = blockIdx.x, q = blockIdx.y * 32 + threadIdx.x;                         \
    unsigned s = start[g], e = start[g + 1];                                            \
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);                                       \
    if (q < f4)                                                                         \
      for (unsigned p = s + threadIdx.y; p < e; p += 8) {                               \
        float4 x = a[(size_t)ia[p] * f4 + q];                                           \
        if (PRODUCT) {                                                                  \
          float4 w = b[(size_t)ib[p] * f4 + q];                                         \
          x.x *= w.x; x.y *= w.y; x.z *= w.z; x.w *= w.w;                               \
        }                                                                               \
        acc.x += x.x; acc.y += x.y; acc.z += x.z; acc.w += x.w;                         \
      }                                                                                 \
    part[threadIdx.y][threadIdx.x] = acc;                                               \
    __syncthreads();                                                                    \
    if (threadIdx.y == 0 && q < f4) {                                                   \
      for (int r = 1; r < 8; ++r) {                                                     \
        float4 o = part[r][threadIdx.x];                                                \
        acc.x += o.x; acc.y += o.y; acc.z += o.z; acc.w += o.w;                         \
      }                                                                                 \
      out[(size_t)g * f4 + q] = acc;                                                    \
    }                                                                                   \
  }

GROUPED4(grouped_product_f32x4, true)
GROUPED4(grouped_sum_f32x4, false)

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

// Linear-layer epilogues on a [rows, f] matrix a (x·Wᵀ, before the bias b[f]):
// bias_ssp y = ssp(a + b); bias_ssp_grad y = c · sigmoid(a + b); bias_scale y = (a + b) · c[row].
#define EPILOGUE(NAME, T, EXPR)                                                          \
  extern "C" __global__ void NAME(const T *__restrict__ a, const T *__restrict__ b,      \
                                  const T *__restrict__ c, T *__restrict__ y, size_t n,  \
                                  unsigned f) {                                          \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;                \
         i += (size_t)blockDim.x * gridDim.x) {                                          \
      T v = a[i] + b[i % f];                                                             \
      (void)v;                                                                           \
      y[i] = EXPR;                                                                       \
    }                                                                                    \
  }

EPILOGUE(bias_ssp_f32, float, fmaxf(v, 0.0f) + log1pf(expf(-fabsf(v))) - 0.69314718055994531f)
EPILOGUE(bias_ssp_f64, double, fmax(v, 0.0) + log1p(exp(-fabs(v))) - 0.69314718055994531)
EPILOGUE(bias_ssp_grad_f32, float, c[i] / (1.0f + expf(-v)))
EPILOGUE(bias_ssp_grad_f64, double, c[i] / (1.0 + exp(-v)))
EPILOGUE(bias_scale_f32, float, v * c[i / f])
EPILOGUE(bias_scale_f64, double, v * c[i / f])
// scale_rows y = a · c[row] (b is not read into the result).
EPILOGUE(scale_rows_f32, float, a[i] * c[i / f])
EPILOGUE(scale_rows_f64, double, a[i] * c[i / f])
