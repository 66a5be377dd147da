# References for the multilevel helpers (issue 14 items 3-5): Rights & Sterba (2019) R^2 written
# out by hand, performance::r2_nakagawa, and lme4's ranef(condVar = TRUE), on unweighted ML fits.
# Run from tests/reference:  Rscript mixed_helpers_lmer.R   -> mixed_helpers_lmer.json
# Inputs: data/pisa2012.csv (+ meta: factor level order), data/timss2019_usa_3level.csv.
#
# Rights & Sterba (2019, Psychological Methods 24(3), 309-338), total variance
#   f + v + m + sigma2,  f = var(X beta), v = tr(T Sigma_z), m = mu_z' T mu_z,
# with Sigma_z, mu_z the covariance (R's var, n - 1) and mean of the random-effect design
# [1, z] and T the random-effect covariance. f1 / f2: X split column by column into its
# cluster mean (between) and the deviation from it (within): f1 = var(X_w beta),
# f2 = var(X_b beta) (f1 + f2 = f exactly). Within = f1 + v + sigma2, between = f2 + m
# (computed only for models whose random-slope covariates are cluster-mean centred).
# Nakagawa & Schielzeth (2013) / Johnson (2014) via performance::r2_nakagawa and by hand.
suppressPackageStartupMessages({library(lme4); library(jsonlite); library(performance)})
meta <- fromJSON("data/pisa2012.meta.json")
p <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) p[[f]] <- factor(p[[f]], levels = meta$factor_levels[[f]])
p <- p[complete.cases(p[, c("pv1math", "escs", "st04q01")]), ]
p$escs_mean <- ave(p$escs, p$schoolid)          # unweighted school means of the rows analysed
p$escs_cwc <- p$escs - p$escs_mean
p$escs_cgm <- p$escs - mean(p$escs)
t3 <- read.csv("data/timss2019_usa_3level.csv")
t3 <- t3[complete.cases(t3[, c("BSMMAT01", "BSBGHER", "Sex")]), ]
fits <- list(
  rs = list(f = pv1math ~ escs + st04q01 + (1 + escs | schoolid), d = p, g = "schoolid", z = c("(Intercept)", "escs"), cmc = FALSE),
  ri_cmc = list(f = pv1math ~ escs_cwc + escs_mean + st04q01 + (1 | schoolid), d = p, g = "schoolid", z = "(Intercept)", cmc = TRUE),
  rs_cmc = list(f = pv1math ~ escs_cwc + escs_mean + (1 + escs_cwc | schoolid), d = p, g = "schoolid", z = c("(Intercept)", "escs_cwc"), cmc = TRUE),
  timss_ri3 = list(f = BSMMAT01 ~ BSBGHER + Sex + (1 | IDSCHOOL/IDCLASS), d = t3, g = NULL)
)
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhobeg = 1e-2, rhoend = 1e-12, maxfun = 1e5))
out <- list(generated = format(Sys.time(), tz = "UTC", usetz = TRUE),
            packages = list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")),
                            performance = as.character(packageVersion("performance"))),
            centering = list(schoolid = p$schoolid[1:50], escs_mean = p$escs_mean[1:50], escs_cwc = p$escs_cwc[1:50],
                             escs_cgm = p$escs_cgm[1:50]),
            models = list())
for (nm in names(fits)) {
  x <- fits[[nm]]
  m <- lmer(x$f, data = x$d, REML = FALSE, control = ctrl)
  vc <- as.data.frame(VarCorr(m))
  res <- list(formula = paste(deparse(x$f), collapse = ""), n = nobs(m),
              fixed = list(term = names(fixef(m)), estimate = unname(fixef(m))),
              variance_components = list(grp = vc$grp, var1 = vc$var1, var2 = vc$var2, estimate = vc$vcov),
              sigma = sigma(m), loglik = as.numeric(logLik(m)))
  re <- ranef(m, condVar = TRUE)
  res$ranef <- lapply(names(re), function(g) {
    d <- re[[g]]; pv <- attr(d, "postVar")
    se <- sapply(seq_len(ncol(d)), function(k) sqrt(pv[k, k, ]))
    list(group = g, level = sub(":.*", "", rownames(d)), terms = I(colnames(d)),
         estimate = unname(as.matrix(d)), std_error = unname(matrix(se, nrow = nrow(d))))
  })
  nk <- performance::r2_nakagawa(m)
  res$r2_nakagawa <- list(marginal = unname(nk$R2_marginal), conditional = unname(nk$R2_conditional))
  X <- model.matrix(m); beta <- fixef(m); s2 <- sigma(m)^2
  if (!is.null(x$g)) {
    g <- x$d[[x$g]]
    Xb <- apply(X, 2, function(col) ave(col, g)); Xw <- X - Xb
    f <- var(as.vector(X %*% beta)); f1 <- var(as.vector(Xw %*% beta)); f2 <- var(as.vector(Xb %*% beta))
    Tm <- as.matrix(VarCorr(m)[[x$g]]); Z <- X[, x$z, drop = FALSE]
    v <- sum(diag(Tm %*% var(Z))); mu <- colMeans(Z); mm <- as.numeric(t(mu) %*% Tm %*% mu)
    tot <- f + v + mm + s2
    res$r2_parts <- list(f = f, f1 = f1, f2 = f2, v = v, m = mm, sigma2 = s2)
    res$r2_total <- list(f1 = f1 / tot, f2 = f2 / tot, v = v / tot, m = mm / tot, f = f / tot,
                         fv = (f + v) / tot, fvm = (f + v + mm) / tot)
    if (x$cmc) {
      wi <- f1 + v + s2; bw <- f2 + mm
      res$r2_within <- list(f1 = f1 / wi, v = v / wi, fv = (f1 + v) / wi)
      res$r2_between <- list(f2 = f2 / bw, m = mm / bw)
    }
    vr <- mean(rowSums((Z %*% Tm) * Z))          # Johnson (2014): mean of z'Tz
    res$nakagawa_by_hand <- list(var_fixed = f, var_random = vr,
                                 marginal = f / (f + vr + s2), conditional = (f + vr) / (f + vr + s2))
  }
  out$models[[nm]] <- res
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null"),
           "mixed_helpers_lmer.json")
