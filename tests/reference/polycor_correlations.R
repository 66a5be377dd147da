# Reference for lsa.correlation(method = "spearman" | "polychoric" | "polyserial") and lsa.covariance
# (tests/test_correlations.py). Run from tests/reference:  Rscript polycor_correlations.R
# Data: data/pisa2018_noisy_fra_ita_mex.csv.gz (Rrepest's perturbed PISA 2018 FRA/ITA/MEX subset,
# see data/README_pisa2018_noisy_fra_ita_mex.md): 80 Fay replicates (k = 0.5), 10 PVs; the
# questionnaire items st005q01ta / st007q01ta (mother's / father's education, levels 1-5) with the
# code 99 set to NA.
# * polychoric, two-step (polycor 0.8-1, polychor(ML = FALSE)): unweighted on the vectors; weighted
#   on the weighted table xtabs(w ~ x + y) (polychor takes a table: thresholds from its margins,
#   -sum(tab * log P)). polychor's optimise() stops at tol = .Machine$double.eps^0.25 (~1e-4 in rho),
#   so the reference also minimises polycor's own objective (binBvn) with optimise(tol = 1e-12) at
#   polychor's thresholds ("refined"); both are stored.
# * polyserial, two-step (polyserial(ML = FALSE)): rho = sqrt((n-1)/n) sd(y) cor(x, y) / sum(dnorm(cuts));
#   unweighted by polycor; weighted written out with cov.wt(method = "ML") and weighted cuts, checked
#   to equal polycor with unit weights.
# * Spearman: cor(method = "spearman") unweighted; weighted as EdSurvey's cor.sdf(method = "Spearman"),
#   i.e. wCorr: Pearson correlation (cov.wt) of wCorr::wrank ranks, wrank transcribed below.
# * covariance: survey::svyvar (n/(n-1) times the weighted population form) per PV.
# Replicate SEs: survey::svrepdesign(type = "Fay", rho = 0.5, mse = TRUE) + withReplicates per
# country, per PV, then Rubin's rules written out (T = U + (1 + 1/M) B).
suppressPackageStartupMessages({library(survey); library(polycor); library(jsonlite)})

d <- read.csv(gzfile("data/pisa2018_noisy_fra_ita_mex.csv.gz"))
for (v in c("st005q01ta", "st007q01ta")) d[[v]][d[[v]] == 99] <- NA
reps <- "^w_fsturwt[0-9]+$"
cnts <- c("FRA", "ITA", "MEX")

refined_polychor <- function(tab) {
  pc <- polychor(tab, ML = FALSE, thresholds = TRUE)
  f <- function(rho) -sum(tab * log(polycor:::binBvn(rho, pc$row.cuts, pc$col.cuts)))
  c(default = pc$rho, refined = optimise(f, interval = c(-0.9999, 0.9999), tol = 1e-12)$minimum)
}
wtab <- function(x, y, w) {
  ok <- !is.na(x) & !is.na(y)
  xtabs(w[ok] ~ factor(x[ok], levels = 1:5) + factor(y[ok], levels = 1:5))
}
w_polyserial <- function(x, y, w) {         # y ordinal
  ok <- !is.na(x) & !is.na(y); x <- x[ok]; y <- y[ok]; w <- w[ok]
  tab <- tapply(w, factor(y), sum); cuts <- qnorm(cumsum(tab) / sum(tab))[-length(tab)]
  code <- as.numeric(as.factor(y))
  cw <- cov.wt(cbind(x, code), wt = w / sum(w), cor = TRUE, method = "ML")
  sqrt(cw$cov[2, 2]) * cw$cor[1, 2] / sum(dnorm(cuts))
}
wrank <- function(x, w) {                    # wCorr 1.9's wrank, vectorised over runs of ties
  ord <- order(x); xs <- x[ord]; ws <- w[ord]
  run <- cumsum(c(TRUE, xs[-1] != xs[-length(xs)]))
  tot <- tapply(ws, run, sum); n <- tapply(ws, run, length)
  below <- cumsum(tot) - tot
  r <- (below + (n + 1) / (2 * n) * tot)[run]
  out <- numeric(length(x)); out[ord] <- r; out
}
w_spearman <- function(x, y, w) {
  ok <- !is.na(x) & !is.na(y); x <- x[ok]; y <- y[ok]; w <- w[ok]
  cov.wt(cbind(wrank(x, w), wrank(y, w)), wt = w / sum(w), cor = TRUE, method = "ML")$cor[1, 2]
}
rubin <- function(est, var) {                # est, var: M-vectors
  m <- length(est); b <- if (m > 1) var(est) else 0
  list(estimate = mean(est), se = sqrt(mean(var) + (1 + 1 / m) * b))
}
rep_stat <- function(des, fn) { x <- withReplicates(des, fn); c(unname(coef(x)), unname(vcov(x))) }

per_country <- function(dd) {
  des <- svrepdesign(data = dd, weights = ~w_fstuwt, repweights = reps, type = "Fay", rho = 0.5, mse = TRUE)
  a <- dd$st005q01ta; b <- dd$st007q01ta
  pc <- rep_stat(des, function(w, data) refined_polychor(wtab(a, b, w))[["refined"]])
  pcd <- refined_polychor(wtab(a, b, dd$w_fstuwt))
  ps <- t(sapply(1:10, function(m) rep_stat(des, function(w, data) w_polyserial(dd[[paste0("pv", m, "math")]], a, w))))
  sp <- t(sapply(1:10, function(m) rep_stat(des, function(w, data)
    w_spearman(dd[[paste0("pv", m, "math")]], dd[[paste0("pv", m, "read")]], w))))
  cv <- lapply(1:10, function(m) {
    v <- svyvar(as.formula(paste0("~pv", m, "math + pv", m, "read")), des)
    list(est = as.vector(v)[c(1, 3, 4)], var = diag(attr(v, "var"))[c(1, 3, 4)])
  })
  cov_est <- t(sapply(cv, `[[`, "est")); cov_var <- t(sapply(cv, `[[`, "var"))
  list(polychoric = list(estimate = pc[1], se = sqrt(pc[2]), polychor_default = pcd[["default"]]),
       polyserial = rubin(ps[, 1], ps[, 2]), spearman = rubin(sp[, 1], sp[, 2]),
       svyvar = lapply(1:3, function(j) rubin(cov_est[, j], cov_var[, j])), n = nrow(dd))
}

# unweighted checks on all rows (polycor itself)
ok <- !is.na(d$st005q01ta) & !is.na(d$st007q01ta)
unw <- list(
  polychoric = refined_polychor(table(d$st005q01ta[ok], d$st007q01ta[ok])),
  polyserial = polyserial(d$pv1math, d$st005q01ta, ML = FALSE),
  polyserial_written_out = w_polyserial(d$pv1math, d$st005q01ta, rep(1, nrow(d))),
  spearman = cor(d$pv1math, d$pv1read, method = "spearman"),
  spearman_wrank = w_spearman(d$pv1math, d$pv1read, rep(1, nrow(d))))
stopifnot(abs(unw$polyserial - unw$polyserial_written_out) < 1e-12, abs(unw$spearman - unw$spearman_wrank) < 1e-12)

res <- lapply(cnts, function(c) per_country(d[d$cnt == c, ]))
names(res) <- cnts
out <- list(countries = cnts, unweighted = unw, per_country = res, svyvar_terms = c("math ~ math", "math ~ read", "read ~ read"),
            R = R.version.string, survey = as.character(packageVersion("survey")),
            polycor = as.character(packageVersion("polycor")), mvtnorm = as.character(packageVersion("mvtnorm")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "polycor_correlations.json")
