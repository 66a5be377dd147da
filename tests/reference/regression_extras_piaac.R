# Reference for tests/test_glm_models.py (issue 13 items 4 and 8): replicate df rules, R²,
# adjusted R² and standardised coefficients over plausible values and replicates.
# Run from tests/reference:  Rscript regression_extras_piaac.R  -> regression_extras_piaac.json
#
# Data: the bundled PIAAC 2012 Flanders extract (lsa/datasets/data/piaac2012_bel_flanders.csv.gz),
# JK2 with VENREPS = 80: svrepdesign type "other", scale 1, rscales 1, mse TRUE, weights SPFWT0,
# replicates SPFWT1..80. Rows without PVs (literacy-related non-respondents) are dropped; the
# replicate weights are given as columns, so this equals lsa's zero-weight domain rule.
# Model: PVLIT ~ AGE_R + GENDER_R by weighted least squares, one fit per PV (PVLIT1..10) and
# per weight column (withReplicates, return.replicates = TRUE).
#
# 1. df rules, written out from EdSurvey's DoFCorrection (EdSurvey 4.0, R/DoFCorrection.R;
#    Johnson & Rust 1992): with d[m, r] = theta[m, r] - theta[m, 0] over the M PVs and R
#    replicates, WS = (1/M) (sum d^2)^2 / sum d^4 and JR = (3.16 - 2.77 / sqrt(R)) * WS.
# 2. R² = 1 - sum w e^2 / sum w (y - ybar_w)^2 per PV and weight column; adjusted R² =
#    1 - (1 - R²) (n - 1) / (n - p), n the rows used (summary.lm's rule with the full sample's n
#    for every replicate). Standardised coefficient = b_j sd_w(x_j) / sd_w(y) with weighted SDs of
#    the model-matrix column and of the PV under the same weight column. All pooled by
#    mitools::MIcombine (sampling variance averaged over the 10 PVs, Rubin's rules).
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})

d <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_bel_flanders.csv.gz"), stringsAsFactors = FALSE)
d <- d[!is.na(d$PVLIT1), ]
stopifnot(all(trimws(d$VEMETHOD) == "JK2"), all(d$VENREPS == 80))
d$GENDER_R <- factor(d$GENDER_R, levels = c("Female", "Male"))
des <- svrepdesign(data = d, weights = ~SPFWT0, repweights = "SPFWT[1-9][0-9]?$", type = "other",
                   scale = 1, rscales = 1, mse = TRUE, combined.weights = TRUE)
stopifnot(ncol(des$repweights) == 80)
X <- model.matrix(~ AGE_R + GENDER_R, d)
n <- nrow(X); p <- ncol(X)

wsd <- function(v, w) { m <- sum(w * v) / sum(w); sqrt(sum(w * (v - m)^2) / sum(w)) }
stats_pv <- function(y) function(w, data) {
  fit <- lm.wfit(X, y, w)
  b <- fit$coefficients
  r2 <- 1 - sum(w * fit$residuals^2) / sum(w * (y - sum(w * y) / sum(w))^2)
  adj <- 1 - (1 - r2) * (n - 1) / (n - p)
  std <- b[-1] * apply(X[, -1, drop = FALSE], 2, wsd, w = w) / wsd(y, w)
  c(b, r2 = r2, adj_r2 = adj, std)
}
per_pv <- lapply(1:10, function(m) withReplicates(des, stats_pv(d[[paste0("PVLIT", m)]]),
                                                  return.replicates = TRUE))
theta <- t(sapply(per_pv, function(r) as.numeric(r$theta)))              # M x k
reps <- lapply(per_pv, function(r) r$replicates)                         # M of R x k
k <- ncol(theta)
names_k <- c(colnames(X), "r_squared", "adj_r_squared", paste0(colnames(X)[-1], "_std"))
pool <- function(idx) {
  est <- lapply(1:10, function(m) theta[m, idx])
  vars <- lapply(1:10, function(m) {
    dev <- sweep(reps[[m]][, idx, drop = FALSE], 2, theta[m, idx]); crossprod(dev) })
  r <- MIcombine(est, vars)
  list(estimate = unname(coef(r)), std_error = unname(sqrt(diag(vcov(r)))), df_rubin = unname(r$df))
}
dfs <- function(idx) {
  d2 <- sapply(1:10, function(m) (reps[[m]][, idx] - theta[m, idx])^2)   # R x M
  ws <- (1 / 10) * sum(d2)^2 / sum(d2^2)
  c(welch_satterthwaite = ws, johnson_rust = (3.16 - 2.77 / sqrt(nrow(d2))) * ws)
}
coef_idx <- 1:p
out <- list(
  n = n, terms = colnames(X),
  coefficients = pool(coef_idx),
  df = list(welch_satterthwaite = unname(sapply(coef_idx, function(j) dfs(j)[1])),
            johnson_rust = unname(sapply(coef_idx, function(j) dfs(j)[2]))),
  r_squared = pool(p + 1:2),
  standardized = c(list(terms = colnames(X)[-1]), pool(p + 2 + seq_len(p - 1))))
# the mean of PVLIT, df rules
mean_pv <- lapply(1:10, function(m) withReplicates(des, function(w, data) sum(w * data[[paste0("PVLIT", m)]]) / sum(w),
                                                   return.replicates = TRUE))
d2 <- sapply(mean_pv, function(r) (as.numeric(r$replicates) - as.numeric(r$theta))^2)
ws <- (1 / 10) * sum(d2)^2 / sum(d2^2)
out$mean_pvlit <- list(estimate = mean(sapply(mean_pv, function(r) as.numeric(r$theta))),
                       welch_satterthwaite = ws, johnson_rust = (3.16 - 2.77 / sqrt(80)) * ws)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "regression_extras_piaac.json")
