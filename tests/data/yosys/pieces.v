module add_ab(input signed [19:0] a, input signed [19:0] b, output signed [19:0] y);
  assign y = a + b;
endmodule
module horner(input signed [19:0] u, input signed [7:0] w, output signed [19:0] y);
  assign y = (u <<< 1) + w;
endmodule
module add_uw(input signed [19:0] u, input signed [7:0] w, output signed [19:0] y);
  assign y = u + w;
endmodule
module barrel(input [19:0] u, input [4:0] s, output [19:0] y);
  assign y = u << s;
endmodule
module acc_reg(input clk, input shift, input signed [7:0] w, output reg signed [19:0] u);
  always @(posedge clk) u <= (shift ? (u <<< 1) : u) + w;
endmodule
