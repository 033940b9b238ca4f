# learning_curve.gp: written by mfrec; re-render with `gnuplot learning_curve.gp` in this directory.
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
    set terminal pngcairo size 1100,750 font 'Sans,11' noenhanced
} else {
    set terminal png size 1100,750 noenhanced
}
set output 'learning_curve.png'
set title 'Learning curves, preset accurate, k 64, 400 epochs, data/ml-100k, split u1' noenhanced
set xlabel 'epoch' noenhanced
set ylabel 'MSE (log scale)' noenhanced
set grid lc rgb '#d0d0d0'
set border lc rgb '#404040'
set logscale y
set format y '%g'
set xtics 50
set key bottom right
plot 'learning_curve.dat' using 1:2 with lines lw 2 lc rgb '#0072B2' title 'train MSE', \
     'learning_curve.dat' using 1:3 with lines lw 2 lc rgb '#D55E00' title 'validation MSE'
set terminal svg size 1100,750 font 'Sans,12' background rgb 'white' noenhanced
set output 'learning_curve.svg'
replot
unset output
