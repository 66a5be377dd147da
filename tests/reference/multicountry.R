# Reference for tests/test_multicountry.py: designs over several countries (issue 12 item 1).
# Run from tests/reference:  Rscript multicountry.R  -> multicountry.json
#
# 1. TIMSS 1999 grade 8, three countries (data/timss1999_g8_3cnt.csv, see its row in README.md):
#    JK2, one replicate per zone, factor 1, sampling variance from PV1 (TIMSS <= 2011). JKZONE
#    restarts in each country, so the replicates are built with country-specific zones: one
#    replicate per (IDCNTRY, JKZONE) pair, doubling the JKREP = 1 half and zeroing the other half
#    inside that country's zone, the full weight everywhere else (221 replicates). svrepdesign
#    type "other", scale 1, rscales 1, mse TRUE. PVs combined by hand with TIMSS's rule:
#    estimate = mean over the 5 PVs, V = U(PV1) + (1 + 1/5) B.
# 2. PIAAC cycle 1: the bundled Flanders (Belgium) extract, JK2 with VENREPS = 80 (factor 1),
#    and the bundled Russia extract with its replicates declared JK1 (VENREPS = 12, factor
#    (R - 1)/R = 11/12). Nested replicates: Belgium's SPFWT1..80 on Belgian rows (SPFWT0 on
#    Russian rows), then Russia's SPFWT1..12 on Russian rows (SPFWT0 on Belgian rows): 92
#    replicates, rscales = c(rep(1, 80), rep(11/12, 12)), scale 1, mse TRUE. Each country's own
#    design: Belgium type "other" rscales 1; Russia type "JK1" (survey's scale (R - 1)/R).
#    PVLIT1..10 combined by mitools::MIcombine (sampling variance averaged over PVs).
#    Rows without PVs (literacy-related non-respondents) are dropped (na.rm = TRUE).
suppressPackageStartupMessages({library(survey); library(mitools); library(jsonlite)})

# ---- 1. TIMSS 1999 ----------------------------------------------------------------------
t <- read.csv("data/timss1999_g8_3cnt.csv")
cz <- unique(t[, c("IDCNTRY", "JKZONE")])
cz <- cz[order(cz$IDCNTRY, cz$JKZONE), ]
rw <- sapply(seq_len(nrow(cz)), function(i) {
  inz <- t$IDCNTRY == cz$IDCNTRY[i] & t$JKZONE == cz$JKZONE[i]
  ifelse(inz, 2 * t$JKREP * t$TOTWGT, t$TOTWGT)
})
tdes <- svrepdesign(data = t, weights = ~TOTWGT, repweights = rw, type = "other", scale = 1,
                    rscales = rep(1, ncol(rw)), mse = TRUE, combined.weights = TRUE)
timss_first <- function(des, root) {
  est <- sapply(1:5, function(m) coef(svymean(as.formula(sprintf("~%s0%d", root, m)), des)))
  u1 <- as.numeric(vcov(svymean(as.formula(sprintf("~%s01", root)), des)))
  list(estimate = mean(est), std_error = sqrt(u1 + (1 + 1 / 5) * var(est)),
       sampling_se_pv1 = sqrt(u1), per_pv = unname(est))
}
timss <- list(n_replicates = ncol(rw),
              pooled = list(BSMMAT = timss_first(tdes, "BSMMAT"), BSSSCI = timss_first(tdes, "BSSSCI")),
              by_country = lapply(split(sort(unique(t$IDCNTRY)), sort(unique(t$IDCNTRY))), function(c)
                c(list(IDCNTRY = c), timss_first(subset(tdes, IDCNTRY == c), "BSMMAT"))))
names(timss$by_country) <- NULL

# ---- 2. PIAAC: a JK2 and a JK1 country ------------------------------------------------------
bel <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_bel_flanders.csv.gz"), stringsAsFactors = FALSE)
rus <- read.csv(gzfile("../../lsa/datasets/data/piaac2012_rus.csv.gz"), stringsAsFactors = FALSE)
stopifnot(all(trimws(bel$VEMETHOD) == "JK2"), all(bel$VENREPS == 80), all(rus$VENREPS == 12))
rus$VEMETHOD <- "JK1"                                  # declared JK1
pv <- paste0("PVLIT", 1:10)
keep <- c("CNTRYID", "SPFWT0", pv)
both <- rbind(bel[, keep], rus[, keep])
isb <- both$CNTRYID == "Belgium"
rb <- sapply(1:80, function(r) ifelse(isb, c(bel[[paste0("SPFWT", r)]], rep(NA, nrow(rus))), both$SPFWT0))
rr <- sapply(1:12, function(r) ifelse(!isb, c(rep(NA, nrow(bel)), rus[[paste0("SPFWT", r)]]), both$SPFWT0))
rscales <- c(rep(1, 80), rep(11 / 12, 12))
pdes <- svrepdesign(data = both, weights = ~SPFWT0, repweights = cbind(rb, rr), type = "other", scale = 1,
                    rscales = rscales, mse = TRUE, combined.weights = TRUE)
pv_mean <- function(des) {
  fits <- lapply(pv, function(v) svymean(as.formula(paste0("~", v)), des, na.rm = TRUE))
  p <- MIcombine(fits)
  list(estimate = unname(coef(p)), std_error = unname(sqrt(diag(vcov(p)))))
}
bdes <- svrepdesign(data = bel, weights = ~SPFWT0, repweights = bel[, paste0("SPFWT", 1:80)], type = "other",
                    scale = 1, rscales = rep(1, 80), mse = TRUE, combined.weights = TRUE)
rdes <- svrepdesign(data = rus, weights = ~SPFWT0, repweights = rus[, paste0("SPFWT", 1:12)], type = "JK1",
                    mse = TRUE, combined.weights = TRUE)
piaac <- list(n_replicates = ncol(rb) + ncol(rr), rscales_jk1 = 11 / 12,
              jk1_scale_survey = rdes$scale,
              pooled = pv_mean(pdes),
              pooled_file_by_country = list(Belgium = pv_mean(subset(pdes, CNTRYID == "Belgium")),
                                            Russia = pv_mean(subset(pdes, CNTRYID != "Belgium"))),
              own_design = list(Belgium = pv_mean(bdes), Russia = pv_mean(rdes)))

out <- list(timss1999 = timss, piaac2012_jk2_jk1 = piaac,
            r_version = R.version.string,
            packages = list(survey = as.character(packageVersion("survey")),
                            mitools = as.character(packageVersion("mitools")),
                            jsonlite = as.character(packageVersion("jsonlite"))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "multicountry.json")
