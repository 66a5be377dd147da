# Reference for lsa.average / lsa.compare / lsa.trend (tests/test_compare.py).
# Run from tests/reference:  Rscript compare_pisa2018_noisy.R
# Data: data/pisa2018_noisy_fra_ita_mex.csv.gz (Rrepest's perturbed PISA 2018 FRA/ITA/MEX subset,
# see data/README_pisa2018_noisy_fra_ita_mex.md): 80 Fay replicates (k = 0.5), 10 PVs.
# Per country: survey::svrepdesign(type = "Fay", rho = 0.5, mse = TRUE) over the 10 PVs with
# mitools (MIcombine: Rubin's rules, T = U + (1 + 1/M) B), then the closed forms of the
# OECD/IEA reports written out below (composite average, independent-sample differences,
# country against an average it belongs to / is not part of, p.adjust).
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})

d <- read.csv(gzfile("data/pisa2018_noisy_fra_ita_mex.csv.gz"))
reps <- "^w_fsturwt[0-9]+$"                # the 80 replicate columns (a regular expression)
cut <- 420.07                                   # PISA mathematics level 2 (lower bound)

per_country <- function(dd) {
  imps <- lapply(1:10, function(m) {
    x <- dd
    x$MATH <- x[[paste0("pv", m, "math")]]
    x$READ <- x[[paste0("pv", m, "read")]]
    x$L2 <- 100 * (x$MATH >= cut)
    x
  })
  des <- svrepdesign(data = imputationList(imps), weights = ~w_fstuwt, repweights = reps,
                     type = "Fay", rho = 0.5, mse = TRUE)
  one <- function(des, f) {
    fit <- MIcombine(with(des, svymean(f)))
    c(estimate = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))))
  }
  list(
    all = list(MATH = one(des, ~MATH), READ = one(des, ~READ), L2 = one(des, ~L2)),
    girls = list(MATH = one(subset(des, st004d01t == 1), ~MATH))
  )
}

cnts <- c("FRA", "ITA", "MEX")
res <- lapply(cnts, function(c) per_country(d[d$cnt == c, ]))
names(res) <- cnts

pick <- function(sample, stat, what) sapply(cnts, function(c) res[[c]][[sample]][[stat]][[what]])

out <- list(countries = cnts, cut = cut, per_country = list(), composite = list(), pairwise = list(),
            vs_average = list(), vs_other_average = list(), girls = list())
for (stat in c("MATH", "READ", "L2")) {
  est <- pick("all", stat, "estimate"); se <- pick("all", stat, "se")
  N <- length(est)
  out$per_country[[stat]] <- list(estimate = as.list(est), se = as.list(se))
  avg <- mean(est); avg_se <- sqrt(sum(se^2)) / N
  out$composite[[stat]] <- list(estimate = avg, se = avg_se)
  # pairwise differences group - reference, independent samples
  pw <- list()
  for (a in cnts) for (b in cnts) if (a != b) {
    diff <- est[[a]] - est[[b]]; s <- sqrt(se[[a]]^2 + se[[b]]^2)
    pw[[length(pw) + 1]] <- list(group = a, reference = b, estimate = diff, se = s,
                                 statistic = diff / s, p_value = 2 * pnorm(-abs(diff / s)))
  }
  out$pairwise[[stat]] <- pw
  # each country against the composite average it belongs to
  va <- list()
  for (cc in cnts) {
    v <- ((N - 1) / N)^2 * se[[cc]]^2 + sum(se[names(se) != cc]^2) / N^2
    diff <- est[[cc]] - avg
    va[[cc]] <- list(estimate = diff, se = sqrt(v), p_value = 2 * pnorm(-abs(diff / sqrt(v))))
  }
  out$vs_average[[stat]] <- va
  # MEX against the average of FRA and ITA (an average it is not part of)
  sub <- c("FRA", "ITA")
  avg2 <- mean(est[sub]); avg2_se <- sqrt(sum(se[sub]^2)) / 2
  diff <- est[["MEX"]] - avg2; s <- sqrt(se[["MEX"]]^2 + avg2_se^2)
  out$vs_other_average[[stat]] <- list(average = avg2, average_se = avg2_se, estimate = diff, se = s)
}
# multiple-comparison adjustments of the six pairwise MATH p-values, in the order above
p <- sapply(out$pairwise$MATH, function(x) x$p_value)
out$p_adjust_math <- list(p = p, bonferroni = p.adjust(p, "bonferroni"), holm = p.adjust(p, "holm"),
                          BH = p.adjust(p, "BH"))
# girls-only means of MATH (a second sample for the trend closed form)
out$girls$MATH <- list(estimate = as.list(pick("girls", "MATH", "estimate")),
                       se = as.list(pick("girls", "MATH", "se")))
out$software <- list(R = R.version.string, survey = as.character(packageVersion("survey")),
                     mitools = as.character(packageVersion("mitools")))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "compare_pisa2018_noisy.json")
