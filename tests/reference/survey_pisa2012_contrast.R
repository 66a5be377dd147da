# Contrasts within one sample (issue 12 item 5): group differences of percentages, benchmark
# shares, percentiles, means, SDs, correlations and regression coefficients, and k-group and
# coefficient Wald tests pooled over plausible values, on PISA 2012 USA with 80 Fay replicates
# (k = 0.5, mse = TRUE) and 5 PVs of mathematics.
# Run from tests/reference:  Rscript survey_pisa2012_contrast.R   -> survey_pisa2012_contrast.json
#
# Per PV: svyby(..., covmat = TRUE) on the replicate design, then svycontrast (the replicate
# covariance of the two groups enters the difference); over PVs: mitools::MIcombine (Rubin's
# rules; df.complete = Inf gives Rubin's 1987 df). Percentiles: survey 4.1.1's
# svyquantile(return.replicates = TRUE) fails on this replicate design ("non-numeric argument
# to binary operator" in svrVar), so the group quantiles are computed per replicate by
# withReplicates with survey's own quantile rule (survey:::qrule_math, the rule of
# svyquantile(qrule = "math", interval.type = "quantile")), then svycontrast as above.
# SD and correlation: withReplicates of the weighted population SD / Pearson correlation.
# Wald tests: the D1 rule of mitml (mitml:::.D1, Li, Raghunathan & Rubin 1991; df.com = NULL)
# on the per-PV contrasts and their replicate covariances, and mitml::testModels /
# testConstraints on svyglm fits per PV (the same test by mitml's own route);
# with one PV survey::regTermTest(method = "Wald").
suppressMessages({library(survey); library(mitools); library(mitml); library(jsonlite)})
meta <- fromJSON("data/pisa2012.meta.json")
d <- read.csv("data/pisa2012.csv", colClasses = c(schoolid = "character"))
for (f in names(meta$factor_levels)) d[[f]] <- droplevels(factor(d[[f]], levels = meta$factor_levels[[f]]))
d$male <- as.numeric(d$st04q01 == "Male")
pvs <- paste0("pv", 1:5, "math")
cuts <- c(420.07, 482.38, 544.68)                 # PISA 2012 mathematics levels 2, 3, 4 (lower bounds)
for (i in 1:5) d[[paste0("lev", i)]] <- cut(d[[pvs[i]]], c(-Inf, cuts, Inf), right = FALSE,
                                            labels = c("L0", "L1", "L2", "L3"))
rep <- grep("^w_fsturwt[0-9]+$", names(d), value = TRUE)
des <- svrepdesign(data = d, weights = ~w_fstuwt, repweights = d[, rep], type = "Fay", rho = 0.5, mse = TRUE)

pool <- function(fits) {                          # Rubin's rules over PVs (Rubin 1987 df)
  p <- MIcombine(fits)
  list(term = names(coef(p)), estimate = unname(coef(p)), se = unname(sqrt(diag(vcov(p)))), df = unname(p$df))
}
male_minus_female <- function(b) {                 # one contrast per statistic: Male:x - Female:x
  nm <- names(coef(b))
  f <- nm[startsWith(nm, "Female")]
  cons <- lapply(f, function(x) { v <- setNames(rep(0, length(nm)), nm); v[x] <- -1; v[sub("^Female", "Male", x)] <- 1; v })
  names(cons) <- sub("^Female:?", "", f)
  if (length(cons) == 1) names(cons) <- "diff"
  svycontrast(b, cons)
}
res <- list()

# 1. percentages of a categorical variable (not a PV: one draw)
b <- svyby(~st29q03, ~st04q01, des, svymean, na.rm = TRUE, covmat = TRUE)
cc <- male_minus_female(b)
res$percent_st29q03 <- list(r_call = "svycontrast(svyby(~st29q03, ~st04q01, des, svymean, na.rm = TRUE, covmat = TRUE), Male - Female)",
                            term = names(coef(cc)), estimate = unname(coef(cc)), se = unname(SE(cc)))

# 2. benchmark shares (percentages of PV levels), per PV then MIcombine
fits <- lapply(1:5, function(i) male_minus_female(svyby(as.formula(paste0("~lev", i)), ~st04q01, des, svymean, covmat = TRUE)))
res$benchmarks <- c(list(r_call = "per PV: svycontrast(svyby(~levi, ~st04q01, des, svymean, covmat = TRUE), Male - Female); MIcombine",
                         cuts = cuts), pool(fits))

# 3. percentiles: group quantiles per replicate (survey:::qrule_math), contrast, MIcombine
probs <- c(0.1, 0.5, 0.9)
quant_gap <- function(i) {
  x <- d[[pvs[i]]]; f <- d$st04q01 == "Female"; m <- d$st04q01 == "Male"
  stat <- function(w, data) c(sapply(probs, function(p) survey:::qrule_math(x[f], w[f], p)),
                              sapply(probs, function(p) survey:::qrule_math(x[m], w[m], p)))
  wr <- withReplicates(des, stat, return.replicates = TRUE)
  nm <- c(paste0("Female:p", 100 * probs), paste0("Male:p", 100 * probs))
  th <- setNames(as.numeric(coef(wr)), nm)
  v <- vcov(wr); dimnames(v) <- list(nm, nm)
  s <- structure(th, var = v, statistic = "quantile", class = "svrepstat")
  cons <- lapply(seq_along(probs), function(j) { v <- setNames(rep(0, 6), nm); v[j] <- -1; v[j + 3] <- 1; v })
  names(cons) <- paste0("p", 100 * probs)
  list(groups = s, diff = svycontrast(s, cons))
}
qg <- lapply(1:5, quant_gap)
res$quantiles <- c(list(r_call = "per PV: withReplicates(qrule_math per group), svycontrast(Male - Female); MIcombine",
                        probs = probs), pool(lapply(qg, `[[`, "diff")))
res$quantiles_groups <- pool(lapply(qg, `[[`, "groups"))

# 4. means of the PV set
fits <- lapply(pvs, function(v) male_minus_female(svyby(as.formula(paste0("~", v)), ~st04q01, des, svymean, covmat = TRUE)))
res$mean <- c(list(r_call = "per PV: svycontrast(svyby(~pvimath, ~st04q01, des, svymean, covmat = TRUE), Male - Female); MIcombine"),
              pool(fits))

# 5. SD (population form) and correlation with escs (pairwise complete rows), via withReplicates
wsd <- function(x, w) { ok <- !is.na(x); x <- x[ok]; w <- w[ok]; mu <- sum(w * x) / sum(w); sqrt(sum(w * (x - mu)^2) / sum(w)) }
wcor <- function(x, y, w) { ok <- !is.na(x) & !is.na(y); x <- x[ok]; y <- y[ok]; w <- w[ok]
  mx <- sum(w * x) / sum(w); my <- sum(w * y) / sum(w)
  sum(w * (x - mx) * (y - my)) / sqrt(sum(w * (x - mx)^2) * sum(w * (y - my)^2)) }
gap_of <- function(fun) lapply(pvs, function(v) {
  x <- d[[v]]; f <- d$st04q01 == "Female"; m <- d$st04q01 == "Male"
  withReplicates(des, function(w, data) fun(x[m], d[m, ], w[m]) - fun(x[f], d[f, ], w[f]))
})
res$sd <- c(list(r_call = "per PV: withReplicates(sd_Male - sd_Female, population form); MIcombine"),
            pool(gap_of(function(x, dd, w) wsd(x, w))))
res$correlation <- c(list(r_call = "per PV: withReplicates(cor_Male(pv, escs) - cor_Female(pv, escs)); MIcombine"),
                     pool(gap_of(function(x, dd, w) wcor(x, dd$escs, w))))

# 6. regression coefficients: the group interaction of a saturated model = difference of the group fits
fits <- lapply(pvs, function(v) svyglm(as.formula(paste(v, "~ st04q01 * escs")), des))
res$lm_interaction <- c(list(r_call = "per PV: svyglm(pvimath ~ st04q01 * escs, des); MIcombine"), pool(fits))
# (svycontrast.svrepglm fails in survey 4.1.1: the coefficients and their replicate vcov as an svrepstat)
res$lm_male_slope <- c(list(r_call = "per PV: svycontrast(coef + vcov of svyglm(pvimath ~ st04q01 * escs), escs + st04q01Male:escs); MIcombine"),
                      pool(lapply(fits, function(f) svycontrast(structure(coef(f), var = vcov(f), statistic = "coef", class = "svrepstat"),
                                                                list(male_slope = c(escs = 1, "st04q01Male:escs" = 1))))))

# 7. k-group Wald test: mean mathematics equal in the 4 groups of sc14q02 (D1 over PVs)
k_group <- function(v) {
  b <- svyby(as.formula(paste0("~", v)), ~sc14q02, des, svymean, covmat = TRUE)
  nm <- names(coef(b))
  cons <- lapply(nm[-1], function(x) { w <- setNames(rep(0, length(nm)), nm); w[nm[1]] <- -1; w[x] <- 1; w })
  svycontrast(b, cons)
}
kg <- lapply(pvs, k_group)
Q <- sapply(kg, coef); U <- simplify2array(lapply(kg, vcov))
D <- mitml:::.D1(Qhat = Q, Uhat = U, df.com = NULL)
g1 <- lapply(pvs, function(v) svyglm(as.formula(paste(v, "~ sc14q02")), des))
g0 <- lapply(pvs, function(v) svyglm(as.formula(paste(v, "~ 1")), des))
tm <- testModels(structure(g1, class = c("mitml.result", "list")), structure(g0, class = c("mitml.result", "list")), method = "D1")$test
res$wald_k_groups <- list(r_call = "per PV: svycontrast(svyby(~pvimath, ~sc14q02, svymean, covmat = TRUE), g - first); mitml:::.D1",
                          groups = levels(d$sc14q02), F = D$F[1, 1], df_num = D$k, df_den = D$v, riv = D$r,
                          p_value = pf(D$F[1, 1], D$k, D$v, lower.tail = FALSE),
                          testModels = list(F = unname(tm[1, "F.value"]), df_num = unname(tm[1, "df1"]),
                                            df_den = unname(tm[1, "df2"]), p_value = unname(tm[1, "P(>F)"]),
                                            riv = unname(tm[1, "RIV"])))

# 8. Wald test of coefficients of a linear and a logistic model (D1 over PVs), and with one PV (regTermTest)
lmf <- lapply(pvs, function(v) svyglm(as.formula(paste(v, "~ escs + st04q01")), des))
tc <- testConstraints(structure(lmf, class = c("mitml.result", "list")), constraints = c("escs", "st04q01Male"), method = "D1")$test
res$wald_lm <- list(r_call = "per PV: svyglm(pvimath ~ escs + st04q01, des); mitml::testConstraints(c('escs', 'st04q01Male'), 'D1')",
                    F = unname(tc[1, "F.value"]), df_num = unname(tc[1, "df1"]), df_den = unname(tc[1, "df2"]),
                    p_value = unname(tc[1, "P(>F)"]), riv = unname(tc[1, "RIV"]))
rt <- regTermTest(lmf[[1]], ~escs + st04q01, method = "Wald")
res$wald_lm_pv1 <- list(r_call = "regTermTest(svyglm(pv1math ~ escs + st04q01, des), ~escs + st04q01, method = 'Wald')",
                        F = as.numeric(rt$Ftest), df_num = as.numeric(rt$df), df_den = as.numeric(rt$ddf),
                        p_value = as.numeric(rt$p))
lgf <- lapply(pvs, function(v) { d2 <- d; d2$MATH <- d[[v]]
  svyglm(male ~ escs + MATH, svrepdesign(data = d2, weights = ~w_fstuwt, repweights = d2[, rep], type = "Fay",
                                          rho = 0.5, mse = TRUE), family = quasibinomial()) })
tl <- testConstraints(structure(lgf, class = c("mitml.result", "list")), constraints = c("escs", "MATH"), method = "D1")$test
res$wald_logit <- list(r_call = "per PV: svyglm(male ~ escs + MATH, family = quasibinomial()); mitml::testConstraints(c('escs', 'MATH'), 'D1')",
                       F = unname(tl[1, "F.value"]), df_num = unname(tl[1, "df1"]), df_den = unname(tl[1, "df2"]),
                       p_value = unname(tl[1, "P(>F)"]), riv = unname(tl[1, "RIV"]))

res$packages <- list(R = paste(R.version$major, R.version$minor, sep = "."),
                     survey = as.character(packageVersion("survey")), mitools = as.character(packageVersion("mitools")),
                     mitml = as.character(packageVersion("mitml")), jsonlite = as.character(packageVersion("jsonlite")))
res$case <- "survey_pisa2012_contrast"
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "survey_pisa2012_contrast.json")
