# Reference for lsa.quantiles(interval="woodruff" | "quantile") and lsa.iqr (tests/test_percentiles.py).
# Run from tests/reference:  Rscript svyquantile_woodruff.R
# Data: data/pisa2018_noisy_fra_ita_mex.csv.gz (Rrepest's perturbed PISA 2018 FRA/ITA/MEX subset,
# see data/README_pisa2018_noisy_fra_ita_mex.md): 80 Fay replicates (k = 0.5), 10 PVs.
# Per country: survey::svrepdesign(type = "Fay", rho = 0.5, mse = TRUE); svyquantile with
# qrule = "math" and interval.type = "mean" (Woodruff, survey's default) or "quantile" (replicate
# quantiles), per PV (mitools imputationList), pooled by Rubin's rules written out below
# (MIcombine stops on svyquantile's NA covariances in survey 4.1.1). The interquartile range:
# withReplicates over survey:::qrule_math (p75 - p25 per replicate), then Rubin's rules
# (T = U + (1 + 1/M) B).
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})

d <- read.csv(gzfile("data/pisa2018_noisy_fra_ita_mex.csv.gz"))
reps <- "^w_fsturwt[0-9]+$"
probs <- c(0.1, 0.25, 0.5, 0.75, 0.9)
cnts <- c("FRA", "ITA", "MEX")

rubin <- function(est, var) {           # est, var: M x k
  m <- nrow(est); b <- apply(est, 2, var); u <- colMeans(var)
  list(estimate = colMeans(est), se = sqrt(u + (1 + 1 / m) * b))
}

per_country <- function(dd) {
  imps <- lapply(1:10, function(m) { x <- dd; x$MATH <- x[[paste0("pv", m, "math")]]; x })
  des <- svrepdesign(data = imputationList(imps), weights = ~w_fstuwt, repweights = reps,
                     type = "Fay", rho = 0.5, mse = TRUE)
  pooled <- function(type) {
    fits <- with(des, svyquantile(~MATH, quantiles = probs, interval.type = type))
    rubin(t(sapply(fits, function(f) unname(coef(f)))), t(sapply(fits, function(f) unname(SE(f))^2)))
  }
  one <- svrepdesign(data = dd, weights = ~w_fstuwt, repweights = reps, type = "Fay", rho = 0.5, mse = TRUE)
  q1 <- svyquantile(~pv1math, one, quantiles = probs)$pv1math        # Woodruff, one PV
  iqr <- t(sapply(1:10, function(m) {         # svyquantile(return.replicates = TRUE) fails in survey 4.1.1
    y <- dd[[paste0("pv", m, "math")]]
    x <- withReplicates(one, function(w, data) survey:::qrule_math(y, w, 0.75) - survey:::qrule_math(y, w, 0.25))
    c(unname(coef(x)), unname(vcov(x)))
  }))
  list(woodruff = pooled("mean"), quantile = pooled("quantile"),
       pv1_woodruff = list(estimate = unname(q1[, 1]), low = unname(q1[, 2]), high = unname(q1[, 3]),
                           se = unname(q1[, 4])),
       iqr = rubin(iqr[, 1, drop = FALSE], iqr[, 2, drop = FALSE]), degf = degf(one))
}

res <- lapply(cnts, function(c) per_country(d[d$cnt == c, ]))
names(res) <- cnts
out <- list(probs = probs, countries = cnts, per_country = res,
            R = R.version.string, survey = as.character(packageVersion("survey")),
            mitools = as.character(packageVersion("mitools")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "svyquantile_woodruff.json")
